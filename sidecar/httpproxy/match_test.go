package httpproxy

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

func TestSelectVirtualHost(t *testing.T) {
	vh := func(name string, domains ...string) *config.VirtualHost {
		return &config.VirtualHost{Name: name, Domains: domains}
	}
	rt := &config.RouteTable{VirtualHosts: []*config.VirtualHost{
		vh("catch-all", "*"),
		vh("prefix", "api.*"),
		vh("longer-prefix", "api.example.*"),
		vh("suffix", "*.example.com"),
		vh("longer-suffix", "*.eu.example.com"),
		vh("short-suffix", "*.org"),
		vh("exact", "api.example.com", "www.example.com"),
		vh("with-port", "ported.example.com:8080"),
		vh("ipv6", "::1"),
	}}
	tests := []struct{ authority, want string }{
		{"api.example.com", "exact"},
		{"WWW.Example.COM", "exact"},
		{"api.example.com:9999", "exact"}, // the port is ignored when no domain names it
		{"web.example.com", "suffix"},
		{"web.eu.example.com", "longer-suffix"},  // longest wildcard wins
		{"api.other.example.com", "suffix"},      // suffix beats prefix
		{"api.example.net", "longer-prefix"},     // longest prefix wins
		{"api.example.org", "short-suffix"},      // a suffix beats even a longer prefix
		{"api.other.net", "prefix"},              // prefix beats *
		{"example.com", "catch-all"},             // *.example.com needs a non-empty label
		{"api.", "catch-all"},                    // so does api.*
		{"ported.example.com:8080", "with-port"}, // exact with the port
		{"ported.example.com:8081", "suffix"},
		{"ported.example.com", "suffix"},
		{"[::1]:15001", "ipv6"},
		{"elsewhere.net", "catch-all"},
		{"", "catch-all"},
	}
	for _, tt := range tests {
		got := selectVirtualHost(rt, tt.authority)
		if got == nil || got.Name != tt.want {
			t.Errorf("authority %q: got %v, want %q", tt.authority, got, tt.want)
		}
	}
	// Declaration order does not matter: reversing the hosts changes nothing.
	rev := &config.RouteTable{}
	for i := len(rt.VirtualHosts) - 1; i >= 0; i-- {
		rev.VirtualHosts = append(rev.VirtualHosts, rt.VirtualHosts[i])
	}
	for _, tt := range tests {
		if got := selectVirtualHost(rev, tt.authority); got == nil || got.Name != tt.want {
			t.Errorf("reversed hosts, authority %q: got %v, want %q", tt.authority, got, tt.want)
		}
	}
	noCatchAll := &config.RouteTable{VirtualHosts: rt.VirtualHosts[1:]}
	if got := selectVirtualHost(noCatchAll, "elsewhere.net"); got != nil {
		t.Errorf("without a catch-all, elsewhere.net got virtual host %q", got.Name)
	}
}

// compileMatch compiles m as the control plane would send it, so the tests
// check the compiled and the runtime halves of matching together.
func compileMatch(t *testing.T, m *routev3.RouteMatch) *config.RouteMatch {
	t.Helper()
	r := build.RouteToCluster("r", "c", time.Second)
	r.Match = m
	rt, err := config.CompileRouteTable(build.RouteConfig("rc", build.VirtualHost("vh", []string{"*"}, r)))
	if err != nil {
		t.Fatal(err)
	}
	return &rt.VirtualHosts[0].Routes[0].Match
}

func prefix(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func caseInsensitive(m *routev3.RouteMatch) *routev3.RouteMatch {
	m.CaseSensitive = wrapperspb.Bool(false)
	return m
}

func withHeaders(m *routev3.RouteMatch, hs ...*routev3.HeaderMatcher) *routev3.RouteMatch {
	m.Headers = append(m.Headers, hs...)
	return m
}

func withQuery(m *routev3.RouteMatch, qs ...*routev3.QueryParameterMatcher) *routev3.RouteMatch {
	m.QueryParameters = append(m.QueryParameters, qs...)
	return m
}

func str(kind string, v string, ignoreCase bool) *matcherv3.StringMatcher {
	m := &matcherv3.StringMatcher{IgnoreCase: ignoreCase}
	switch kind {
	case "exact":
		m.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: v}
	case "prefix":
		m.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: v}
	case "suffix":
		m.MatchPattern = &matcherv3.StringMatcher_Suffix{Suffix: v}
	case "contains":
		m.MatchPattern = &matcherv3.StringMatcher_Contains{Contains: v}
	case "regex":
		m.MatchPattern = &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}
	}
	return m
}

func header(name string, m *matcherv3.StringMatcher) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: m}}
}

func present(name string, present bool) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: present}}
}

func query(name string, m *matcherv3.StringMatcher) *routev3.QueryParameterMatcher {
	if m == nil {
		return &routev3.QueryParameterMatcher{Name: name, QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}}
	}
	return &routev3.QueryParameterMatcher{Name: name, QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: m}}
}

// probe is a request and whether the route should match it. A target
// starting with a method and a space sets the method; header holds
// name, value pairs ("host" sets the authority).
type probe struct {
	target string
	header []string
	want   bool
}

func (p probe) request(t *testing.T) *http.Request {
	t.Helper()
	method, target := http.MethodGet, p.target
	if m, rest, ok := strings.Cut(p.target, " "); ok {
		method, target = m, rest
	}
	r := httptest.NewRequestWithContext(t.Context(), method, "http://example.com"+target, nil)
	for i := 0; i+1 < len(p.header); i += 2 {
		if strings.EqualFold(p.header[i], "host") {
			r.Host = p.header[i+1]
			continue
		}
		r.Header.Add(p.header[i], p.header[i+1])
	}
	return r
}

func TestRouteMatches(t *testing.T) {
	h := func(pairs ...string) []string { return pairs }
	tests := []struct {
		name   string
		match  *routev3.RouteMatch
		probes []probe
	}{
		{"prefix", prefix("/api"), []probe{{"/api", nil, true}, {"/api/x", nil, true}, {"/apix", nil, true}, {"/api?q=1", nil, true}, {"/ap", nil, false}, {"/API", nil, false}}},
		{"exact", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/api"}}, []probe{
			{"/api", nil, true}, {"/api?q=1", nil, true}, {"/api/", nil, false}, {"/apix", nil, false}, {"/API", nil, false},
		}},
		{"path_separated_prefix", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api"}}, []probe{
			{"/api", nil, true}, {"/api/", nil, true}, {"/api/x/y", nil, true}, {"/api?x=1", nil, true}, {"/apix", nil, false}, {"/ap", nil, false}, {"/", nil, false},
		}},
		{"regex is a full match", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/items/[0-9]+"}}}, []probe{
			{"/items/12", nil, true}, {"/items/12?full=1", nil, true}, {"/items/12/x", nil, false}, {"/x/items/12", nil, false}, {"/items/", nil, false},
		}},
		{"case-insensitive prefix", caseInsensitive(prefix("/API")), []probe{{"/api/x", nil, true}, {"/Api", nil, true}, {"/ap", nil, false}}},
		{"case-insensitive exact", caseInsensitive(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/Foo"}}), []probe{
			{"/FOO", nil, true}, {"/foo", nil, true}, {"/foo/", nil, false},
		}},
		{"case-insensitive segment prefix", caseInsensitive(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/Api"}}), []probe{
			{"/API/x", nil, true}, {"/aPi", nil, true}, {"/apix", nil, false},
		}},
		{"case_sensitive does not apply to regex", caseInsensitive(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/Items"}}}), []probe{
			{"/Items", nil, true}, {"/items", nil, false},
		}},
		{"escaped path is matched as sent", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/a%2Fb"}}, []probe{{"/a%2Fb", nil, true}, {"/a/b", nil, false}}},
		{"header exact", withHeaders(prefix("/"), header("X-Env", str("exact", "prod", false))), []probe{
			{"/", h("x-env", "prod"), true}, {"/", h("x-env", "production"), false}, {"/", h("x-env", "PROD"), false}, {"/", nil, false},
		}},
		{"header values are joined", withHeaders(prefix("/"), header("x-env", str("exact", "a,b", false))), []probe{
			{"/", h("x-env", "a", "x-env", "b"), true}, {"/", h("x-env", "a"), false},
		}},
		{"header prefix", withHeaders(prefix("/"), header("x-env", str("prefix", "pro", false))), []probe{{"/", h("x-env", "production"), true}, {"/", h("x-env", "dev"), false}}},
		{"header suffix", withHeaders(prefix("/"), header("x-v", str("suffix", "-canary", false))), []probe{{"/", h("x-v", "v1-canary"), true}, {"/", h("x-v", "canary-v1"), false}}},
		{"header contains", withHeaders(prefix("/"), header("x-v", str("contains", "beta", false))), []probe{{"/", h("x-v", "1-beta-2"), true}, {"/", h("x-v", "alpha"), false}}},
		{"header regex is a full match", withHeaders(prefix("/"), header("x-v", str("regex", "v[0-9]+", false))), []probe{
			{"/", h("x-v", "v12"), true}, {"/", h("x-v", "xv12"), false}, {"/", h("x-v", "v12x"), false}, {"/", nil, false},
		}},
		{"header regex is case-sensitive", withHeaders(prefix("/"), header("x-v", str("regex", "V[0-9]+", false))), []probe{{"/", h("x-v", "V12"), true}, {"/", h("x-v", "v12"), false}}},
		{"header ignore_case", withHeaders(prefix("/"), header("x-env", str("exact", "PROD", true))), []probe{
			{"/", h("x-env", "prod"), true}, {"/", h("x-env", "Prod"), true}, {"/", h("x-env", "dev"), false},
		}},
		{"header present", withHeaders(prefix("/"), present("x-user", true)), []probe{{"/", h("x-user", ""), true}, {"/", h("x-user", "u"), true}, {"/", nil, false}}},
		{"header absent", withHeaders(prefix("/"), present("x-debug", false)), []probe{{"/", nil, true}, {"/", h("x-debug", "1"), false}}},
		{"header invert", withHeaders(prefix("/"), func() *routev3.HeaderMatcher {
			m := header("x-env", str("exact", "prod", false))
			m.InvertMatch = true
			return m
		}()), []probe{{"/", h("x-env", "prod"), false}, {"/", h("x-env", "dev"), true}, {"/", nil, true}}},
		{":method", withHeaders(prefix("/"), header(":method", str("exact", "POST", false))), []probe{{"POST /", nil, true}, {"GET /", nil, false}}},
		{":authority", withHeaders(prefix("/"), header(":authority", str("exact", "api.example.com", false))), []probe{
			{"/", h("host", "api.example.com"), true}, {"/", h("host", "example.com"), false},
		}},
		{":path includes the query", withHeaders(prefix("/"), header(":path", str("exact", "/p?x=1", false))), []probe{{"/p?x=1", nil, true}, {"/p", nil, false}}},
		{"query exact uses the first value", withQuery(prefix("/"), query("v", str("exact", "1", false))), []probe{
			{"/?v=1", nil, true}, {"/?v=1&v=2", nil, true}, {"/?v=2&v=1", nil, false}, {"/?v=2", nil, false}, {"/?V=1", nil, false}, {"/", nil, false},
		}},
		{"query present", withQuery(prefix("/"), query("debug", nil)), []probe{{"/?debug", nil, true}, {"/?debug=0", nil, true}, {"/?x=1", nil, false}}},
		{"query ignore_case prefix", withQuery(prefix("/"), query("lang", str("prefix", "EN", true))), []probe{{"/?lang=en-US", nil, true}, {"/?lang=fr", nil, false}}},
		{"grpc only", func() *routev3.RouteMatch {
			m := prefix("/")
			m.Grpc = &routev3.RouteMatch_GrpcRouteMatchOptions{}
			return m
		}(), []probe{
			{"POST /pkg.Svc/M", h("content-type", "application/grpc"), true}, {"POST /pkg.Svc/M", h("content-type", "application/grpc+proto"), true},
			{"POST /pkg.Svc/M", h("content-type", "application/json"), false}, {"POST /pkg.Svc/M", nil, false},
		}},
		{"every condition must hold", withQuery(withHeaders(prefix("/api"), header(":method", str("exact", "GET", false)), present("x-user", true)), query("v", nil)), []probe{
			{"/api?v", h("x-user", "u"), true}, {"POST /api?v", h("x-user", "u"), false}, {"/api", h("x-user", "u"), false}, {"/api?v", nil, false}, {"/x?v", h("x-user", "u"), false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compileMatch(t, tt.match)
			for _, p := range tt.probes {
				if got := routeMatches(m, p.request(t)); got != p.want {
					t.Errorf("%s with headers %q: matched %v, want %v", p.target, p.header, got, p.want)
				}
			}
		})
	}
}

func TestSelectRouteTakesTheFirstMatch(t *testing.T) {
	route := func(name string, kind config.PathMatchKind, path string) *config.Route {
		return &config.Route{Name: name, Match: config.RouteMatch{PathKind: kind, Path: path}}
	}
	vh := &config.VirtualHost{Routes: []*config.Route{
		route("exact", config.PathExact, "/a"),
		route("segment", config.PathSegmentPrefix, "/a"),
		route("prefix", config.PathPrefix, "/a"),
		route("shadowed", config.PathExact, "/a/b"), // after a broader match: never chosen
		route("root", config.PathPrefix, "/"),
	}}
	for target, want := range map[string]string{"/a": "exact", "/a/b": "segment", "/ab": "prefix", "/b": "root"} {
		got := selectRoute(vh, httptest.NewRequestWithContext(t.Context(), http.MethodGet, target, nil))
		if got == nil || got.Name != want {
			t.Errorf("%s: got route %v, want %q", target, got, want)
		}
	}
	vh.Routes = vh.Routes[:3]
	if got := selectRoute(vh, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/b", nil)); got != nil {
		t.Errorf("/b matched route %q without a catch-all", got.Name)
	}
}

func TestApplyHeaders(t *testing.T) {
	add := func(name, value string, a config.HeaderAction) *config.HeaderMutation {
		return &config.HeaderMutation{Add: []config.HeaderValue{{Name: name, Value: value, Action: a}}}
	}
	tests := []struct {
		name      string
		before    http.Header
		mutations []*config.HeaderMutation
		want      http.Header
	}{
		{"append to a missing header", http.Header{}, []*config.HeaderMutation{add("x-a", "1", config.HeaderAppend)}, http.Header{"X-A": {"1"}}},
		{"append to a present header", http.Header{"X-A": {"1"}}, []*config.HeaderMutation{add("x-a", "2", config.HeaderAppend)}, http.Header{"X-A": {"1", "2"}}},
		{"overwrite every value", http.Header{"X-A": {"1", "2"}}, []*config.HeaderMutation{add("x-a", "3", config.HeaderOverwrite)}, http.Header{"X-A": {"3"}}},
		{"overwrite a missing header", http.Header{}, []*config.HeaderMutation{add("x-a", "3", config.HeaderOverwrite)}, http.Header{"X-A": {"3"}}},
		{"add if absent, absent", http.Header{"X-B": {"b"}}, []*config.HeaderMutation{add("x-a", "d", config.HeaderAddIfAbsent)}, http.Header{"X-A": {"d"}, "X-B": {"b"}}},
		{"add if absent, present", http.Header{"X-A": {"mine"}}, []*config.HeaderMutation{add("x-a", "d", config.HeaderAddIfAbsent)}, http.Header{"X-A": {"mine"}}},
		{"add if absent, present but empty", http.Header{"X-A": {""}}, []*config.HeaderMutation{add("x-a", "d", config.HeaderAddIfAbsent)}, http.Header{"X-A": {""}}},
		{"remove", http.Header{"X-A": {"1", "2"}, "X-B": {"b"}}, []*config.HeaderMutation{{Remove: []string{"x-a", "x-missing"}}}, http.Header{"X-B": {"b"}}},
		{"remove before add", http.Header{"X-A": {"old"}}, []*config.HeaderMutation{{Remove: []string{"x-a"}, Add: []config.HeaderValue{{Name: "x-a", Value: "new"}}}},
			http.Header{"X-A": {"new"}}},
		{"later mutations win", http.Header{}, []*config.HeaderMutation{add("x-a", "vh", config.HeaderOverwrite), add("x-a", "route", config.HeaderOverwrite)},
			http.Header{"X-A": {"route"}}},
		{"an earlier add makes a later add-if-absent a no-op", http.Header{}, []*config.HeaderMutation{add("x-a", "vh", config.HeaderAppend), add("x-a", "route", config.HeaderAddIfAbsent)},
			http.Header{"X-A": {"vh"}}},
		{"a later mutation removes what an earlier one added", http.Header{}, []*config.HeaderMutation{add("x-a", "vh", config.HeaderAppend), {Remove: []string{"x-a"}}},
			http.Header{}},
		{"in order within a mutation", http.Header{}, []*config.HeaderMutation{{Add: []config.HeaderValue{
			{Name: "x-a", Value: "1"}, {Name: "x-a", Value: "2"}, {Name: "x-a", Value: "3", Action: config.HeaderOverwrite}, {Name: "x-a", Value: "4"},
		}}}, http.Header{"X-A": {"3", "4"}}},
		{"no mutations", http.Header{"X-A": {"1"}}, nil, http.Header{"X-A": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.before.Clone()
			applyHeaders(h, tt.mutations...)
			if !reflect.DeepEqual(h, tt.want) {
				t.Fatalf("got %v, want %v", h, tt.want)
			}
		})
	}
}
