package httpproxy

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// seen is a request as a backend received it; body is what its handler
// read.
type seen struct {
	uri, host string
	header    http.Header
	body      []byte
}

// backend is an HTTP server on 127.0.0.1 that records what it receives
// and says who it is in X-Backend.
type backend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seen
}

func startBackend(t *testing.T, name string, handler http.HandlerFunc) *backend {
	t.Helper()
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, "hello from "+name)
		}
	}
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &body), r.Body}
		w.Header().Set("X-Backend", name)
		handler(w, r)
		// Recorded before the handler's response leaves (it is buffered
		// until the handler returns), so the client never sees the
		// response before the record.
		b.mu.Lock()
		b.seen = append(b.seen, seen{uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: body.Bytes()})
		b.mu.Unlock()
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) requests() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.seen...)
}

// respond answers with status after reading at most n bytes of the body
// (all of it when n < 0), setting the header pairs.
func respond(status int, n int64, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n < 0 {
			_, _ = io.Copy(io.Discard, r.Body)
		} else {
			_, _ = io.CopyN(io.Discard, r.Body, n)
		}
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
	}
}

// echo answers 200 with the request body, read in full first: an HTTP/1
// server may not read the body once the response has started.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, _ = w.Write(body)
}

// newCluster is a cluster runtime with the backends of each priority, in
// order: the first attempt goes to priority 0, a retry to another host.
func newCluster(t *testing.T, name string, priorities ...[]*backend) *upstream.Cluster {
	t.Helper()
	cfg, err := config.CompileCluster(build.Cluster(build.ClusterOptions{Name: name}))
	if err != nil {
		t.Fatal(err)
	}
	c := upstream.NewCluster(cfg, upstream.Options{})
	eps := &config.Endpoints{ClusterName: name}
	for p, bs := range priorities {
		loc := config.Locality{Priority: uint32(p)}
		for _, b := range bs {
			loc.Endpoints = append(loc.Endpoints, config.Endpoint{Address: b.Listener.Addr().String(), Weight: 1})
		}
		eps.Localities = append(eps.Localities, loc)
	}
	c.SetEndpoints(eps)
	t.Cleanup(c.Close)
	return c
}

// observer records local replies and retries.
type observer struct {
	mu      sync.Mutex
	local   []string
	retries []string
}

func (o *observer) Request(RequestEvent) {}

func (o *observer) LocalReply(_ config.Direction, _ int, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.local = append(o.local, reason)
}

func (o *observer) Retry(_ *config.Cluster, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, reason)
}

func (o *observer) Timeout(*config.Cluster, string) {}

func (o *observer) events() (local, retries []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.local...), append([]string(nil), o.retries...)
}

// proxy is a Handler serving on 127.0.0.1 with a fixed route table.
type proxy struct {
	url    string
	obs    *observer
	client *http.Client
}

func startProxy(t *testing.T, rt *config.RouteTable, clusters ...*upstream.Cluster) *proxy {
	t.Helper()
	byName := map[string]*upstream.Cluster{}
	for _, c := range clusters {
		byName[c.Config().Name] = c
	}
	p := &proxy{obs: &observer{}}
	srv := httptest.NewServer(New(Config{
		Direction: config.Outbound,
		Routes:    func() *config.RouteTable { return rt },
		Cluster:   func(name string) *upstream.Cluster { return byName[name] },
		Observer:  p.obs,
		Log:       slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	p.client = &http.Client{
		Transport:     &http.Transport{},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(p.client.CloseIdleConnections)
	return p
}

// call is a request to the proxy; header holds name, value pairs.
type call struct {
	method, path, host string
	header             []string
	body               io.Reader
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (p *proxy) do(t *testing.T, c call) reply {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(t.Context(), c.method, p.url+c.path, c.body)
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Add(c.header[i], c.header[i+1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", c.method, c.path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func forwardTo(cluster string) *config.Forward {
	return &config.Forward{Backends: []config.WeightedBackend{{Cluster: cluster, Weight: 1}}, TotalWeight: 1, Timeout: 10 * time.Second}
}

func prefixMatch(p string) config.RouteMatch {
	return config.RouteMatch{PathKind: config.PathPrefix, Path: p}
}

func table(vhs ...*config.VirtualHost) *config.RouteTable {
	return &config.RouteTable{Name: "routes", VirtualHosts: vhs}
}

func anyHost(routes ...*config.Route) *config.VirtualHost {
	return &config.VirtualHost{Name: "all", Domains: []string{"*"}, Routes: routes}
}

func compileRoutes(t *testing.T, routes ...*routev3.Route) *config.RouteTable {
	t.Helper()
	vh := build.VirtualHost("all", []string{"*"}, routes...)
	vh.ResponseHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-vh", Value: "vh"}}}
	rt, err := config.CompileRouteTable(build.RouteConfig("routes", vh))
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestDirectResponse(t *testing.T) {
	vh := anyHost(&config.Route{Name: "teapot", Match: prefixMatch("/"), Direct: &config.DirectResponse{Status: http.StatusTeapot, Body: "short and stout"},
		ResponseHeaders: config.HeaderMutation{Add: []config.HeaderValue{{Name: "x-route", Value: "route"}}}})
	vh.ResponseHeaders = config.HeaderMutation{Add: []config.HeaderValue{{Name: "x-vh", Value: "vh"}}}
	p := startProxy(t, table(vh))
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		r := p.do(t, call{method: method, path: "/any"})
		wantBody := "short and stout"
		if method == http.MethodHead {
			wantBody = ""
		}
		if r.status != http.StatusTeapot || r.body != wantBody || r.header.Get(LocalReplyHeader) != ReasonDirectResponse ||
			r.header.Get("X-Vh") != "vh" || r.header.Get("X-Route") != "route" {
			t.Errorf("%s: got %d %q with headers %v", method, r.status, r.body, r.header)
		}
	}
}

func TestRedirect(t *testing.T) {
	redirect := func(path string, a *routev3.RedirectAction) *routev3.Route {
		return &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: path}}, Action: &routev3.Route_Redirect{Redirect: a}}
	}
	rt := compileRoutes(t,
		redirect("/https", &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}),
		redirect("/hostport", &routev3.RedirectAction{HostRedirect: "other.org", PortRedirect: 9443}),
		redirect("/host", &routev3.RedirectAction{HostRedirect: "other.org"}),
		redirect("/port", &routev3.RedirectAction{PortRedirect: 8443, ResponseCode: routev3.RedirectAction_PERMANENT_REDIRECT}),
		redirect("/path", &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/new"}, ResponseCode: routev3.RedirectAction_FOUND}),
		redirect("/old", &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/new"}, ResponseCode: routev3.RedirectAction_SEE_OTHER}),
		redirect("/strip", &routev3.RedirectAction{StripQuery: true, ResponseCode: routev3.RedirectAction_TEMPORARY_REDIRECT}),
		redirect("/all", &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"},
			HostRedirect: "secure.example.com", PortRedirect: 8443, PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/login"}, StripQuery: true}),
	)
	p := startProxy(t, rt)
	tests := []struct {
		path, host string
		code       int
		location   string
	}{
		{"/https/a?x=1", "example.com", 301, "https://example.com/https/a?x=1"},
		{"/https/a", "example.com:8080", 301, "https://example.com:8080/https/a"},
		{"/hostport/a?x=1", "example.com:8080", 301, "http://other.org:9443/hostport/a?x=1"},
		{"/host/a", "example.com:8080", 301, "http://other.org/host/a"},
		{"/port/a?x=1", "example.com:8080", 308, "http://example.com:8443/port/a?x=1"},
		{"/path/a?x=1", "example.com", 302, "http://example.com/new?x=1"},
		{"/old/a/b?x=1", "example.com", 303, "http://example.com/new/a/b?x=1"},
		{"/old", "example.com", 303, "http://example.com/new"},
		{"/strip/a?x=1&y=2", "example.com", 307, "http://example.com/strip/a"},
		{"/all/a?x=1", "example.com", 301, "https://secure.example.com:8443/login"},
	}
	for _, tt := range tests {
		r := p.do(t, call{path: tt.path, host: tt.host})
		if r.status != tt.code || r.header.Get("Location") != tt.location {
			t.Errorf("%s (host %s): got %d to %q, want %d to %q", tt.path, tt.host, r.status, r.header.Get("Location"), tt.code, tt.location)
		}
		if r.header.Get(LocalReplyHeader) != ReasonRedirect || r.header.Get("X-Vh") != "vh" {
			t.Errorf("%s: headers %v, want the redirect reason and the virtual host's response headers", tt.path, r.header)
		}
	}
}

func TestRewritesAsSeenByTheBackend(t *testing.T) {
	b := startBackend(t, "web", nil)
	route := func(m *routev3.RouteMatch, edit func(*routev3.RouteAction)) *routev3.Route {
		r := build.RouteToCluster("", "web", 10*time.Second)
		r.Match = m
		edit(r.GetRoute())
		return r
	}
	prefix := func(p string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
	}
	ci := prefix("/CI/")
	ci.CaseSensitive = &wrapperspb.BoolValue{Value: false}
	rt := compileRoutes(t,
		route(prefix("/api/"), func(a *routev3.RouteAction) { a.PrefixRewrite = "/v2/" }),
		route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/seg"}}, func(a *routev3.RouteAction) { a.PrefixRewrite = "/" }),
		route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/svc"}}, func(a *routev3.RouteAction) { a.PrefixRewrite = "/backend" }),
		route(prefix("/v"), func(a *routev3.RouteAction) {
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: `^/v(\d+)/(\w+)$`}, Substitution: `/\2/version/\1`}
		}),
		route(prefix("/host"), func(a *routev3.RouteAction) {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "internal.svc"}
		}),
		route(ci, func(a *routev3.RouteAction) { a.PrefixRewrite = "/lower/" }),
		route(prefix("/"), func(*routev3.RouteAction) {}),
	)
	p := startProxy(t, rt, newCluster(t, "web", []*backend{b}))
	tests := []struct{ path, wantURI, wantHost string }{
		{"/api/users?id=1", "/v2/users?id=1", "example.com"},
		{"/seg/users", "/users", "example.com"},
		{"/seg", "/", "example.com"},
		{"/svc/a/b?q", "/backend/a/b?q", "example.com"},
		{"/svc", "/backend", "example.com"},
		{"/v2/users?x=y", "/users/version/2?x=y", "example.com"},
		{"/v2/users/extra", "/v2/users/extra", "example.com"}, // the regex does not match: unchanged
		{"/host/a", "/host/a", "internal.svc"},
		{"/ci/X", "/lower/X", "example.com"},
		{"/other%2Fpath", "/other%2Fpath", "example.com"},
	}
	for i, tt := range tests {
		r := p.do(t, call{path: tt.path, host: "example.com"})
		if r.status != http.StatusOK || r.header.Get("X-Vh") != "vh" {
			t.Fatalf("%s: got %d %q", tt.path, r.status, r.body)
		}
		got := b.requests()
		if len(got) != i+1 {
			t.Fatalf("%s: the backend saw %d requests, want %d", tt.path, len(got), i+1)
		}
		if last := got[i]; last.uri != tt.wantURI || last.host != tt.wantHost {
			t.Errorf("%s: the backend saw %s with host %s, want %s with host %s", tt.path, last.uri, last.host, tt.wantURI, tt.wantHost)
		}
	}
}

func TestHeaderMutations(t *testing.T) {
	b := startBackend(t, "web", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Secret", "s")
		w.Header().Set("X-Resp-Level", "app")
		w.Header().Set("X-App", "app")
	})
	hv := func(name, value string, a config.HeaderAction) config.HeaderValue {
		return config.HeaderValue{Name: name, Value: value, Action: a}
	}
	fwd := forwardTo("web")
	fwd.Backends = []config.WeightedBackend{
		{Cluster: "web", Weight: 1,
			RequestHeaders:  config.HeaderMutation{Add: []config.HeaderValue{hv("x-level", "backend", config.HeaderOverwrite), hv("x-split", "web", config.HeaderAppend)}},
			ResponseHeaders: config.HeaderMutation{Add: []config.HeaderValue{hv("x-resp-level", "backend", config.HeaderOverwrite)}}},
		{Cluster: "other", Weight: 0, // never picked: its mutations must not apply
			RequestHeaders:  config.HeaderMutation{Add: []config.HeaderValue{hv("x-split", "other", config.HeaderAppend)}},
			ResponseHeaders: config.HeaderMutation{Add: []config.HeaderValue{hv("x-other", "other", config.HeaderAppend)}}},
	}
	vh := anyHost(&config.Route{Match: prefixMatch("/"), Forward: fwd,
		RequestHeaders: config.HeaderMutation{Remove: []string{"x-remove-me"}, Add: []config.HeaderValue{
			hv("x-level", "route", config.HeaderOverwrite), hv("x-client", "default", config.HeaderAddIfAbsent), hv("x-new", "new", config.HeaderAddIfAbsent),
		}},
		ResponseHeaders: config.HeaderMutation{Remove: []string{"x-secret"}, Add: []config.HeaderValue{hv("x-resp-level", "route", config.HeaderOverwrite)}},
	})
	vh.RequestHeaders = config.HeaderMutation{Add: []config.HeaderValue{hv("x-level", "vh", config.HeaderOverwrite), hv("x-vh", "vh", config.HeaderAppend)}}
	vh.ResponseHeaders = config.HeaderMutation{Add: []config.HeaderValue{hv("x-resp-level", "vh", config.HeaderOverwrite), hv("x-vh-resp", "1", config.HeaderAppend)}}
	p := startProxy(t, table(vh), newCluster(t, "web", []*backend{b}))

	for range 5 { // the weighted choice is random; the weight 0 backend must never be taken
		r := p.do(t, call{path: "/", header: []string{"X-Client", "mine", "X-Remove-Me", "1", "X-Vh", "client"}})
		if r.status != http.StatusOK {
			t.Fatalf("got %d %q", r.status, r.body)
		}
		for name, want := range map[string][]string{
			"X-Resp-Level": {"backend"}, "X-Vh-Resp": {"1"}, "X-App": {"app"}, "X-Backend": {"web"}, "X-Secret": nil, "X-Other": nil,
		} {
			if got := r.header.Values(name); !reflect.DeepEqual(got, want) {
				t.Errorf("response header %s = %q, want %q", name, got, want)
			}
		}
		reqs := b.requests()
		h := reqs[len(reqs)-1].header
		for name, want := range map[string][]string{
			"X-Level": {"backend"}, "X-Vh": {"client", "vh"}, "X-Client": {"mine"}, "X-New": {"new"}, "X-Split": {"web"}, "X-Remove-Me": nil,
		} {
			if got := h.Values(name); !reflect.DeepEqual(got, want) {
				t.Errorf("request header %s as the backend saw it = %q, want %q", name, got, want)
			}
		}
	}
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestLocalReplies(t *testing.T) {
	empty := newCluster(t, "empty") // no endpoints
	refused := newCluster(t, "refused")
	refused.SetEndpoints(&config.Endpoints{ClusterName: "refused", Localities: []config.Locality{{Endpoints: []config.Endpoint{{Address: closedAddr(t), Weight: 1}}}}})
	rt := table(
		&config.VirtualHost{Name: "api", Domains: []string{"api.example.com"}, Routes: []*config.Route{
			{Match: prefixMatch("/api"), Forward: forwardTo("nope")},
			{Match: prefixMatch("/empty"), Forward: forwardTo("empty")},
			{Match: prefixMatch("/refused"), Forward: forwardTo("refused")},
		}},
	)
	tests := []struct {
		name, host, path string
		routes           *config.RouteTable
		status, grpcCode int
		reason, detail   string
	}{
		{"no route table", "api.example.com", "/api", nil, 503, 14, ReasonNoRouteConfig, "the proxy has no routes yet"},
		{"no virtual host", "other.example.com", "/api", rt, 404, 12, ReasonNoRoute, "no virtual host for authority other.example.com"},
		{"no route", "api.example.com", "/nothing", rt, 404, 12, ReasonNoRoute, "no route matches"},
		{"unknown cluster", "api.example.com", "/api", rt, 503, 14, ReasonNoCluster, "cluster nope is not known to the proxy"},
		{"no endpoints", "api.example.com", "/empty", rt, 503, 14, ReasonNoHealthyUpstream, "every endpoint of cluster empty"},
		{"connection refused", "api.example.com", "/refused", rt, 503, 14, ReasonConnectFailure, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, tt.routes, empty, refused)
			r := p.do(t, call{path: tt.path, host: tt.host})
			if r.status != tt.status || r.header.Get(LocalReplyHeader) != tt.reason || !strings.HasPrefix(r.body, "plexus: "+tt.reason+": ") || !strings.Contains(r.body, tt.detail) {
				t.Errorf("got %d (%s) %q, want %d (%s) mentioning %q", r.status, r.header.Get(LocalReplyHeader), r.body, tt.status, tt.reason, tt.detail)
			}
			// A gRPC client gets a trailers-only response it understands.
			g := p.do(t, call{method: http.MethodPost, path: tt.path, host: tt.host, header: []string{"Content-Type", "application/grpc"}, body: strings.NewReader("\x00\x00\x00\x00\x00")})
			if g.status != http.StatusOK || g.header.Get("Grpc-Status") != itoa(tt.grpcCode) || g.header.Get("Content-Type") != "application/grpc" ||
				g.header.Get(LocalReplyHeader) != tt.reason || !strings.Contains(g.header.Get("Grpc-Message"), tt.reason) || g.body != "" {
				t.Errorf("gRPC: got %d grpc-status %q, headers %v, body %q; want 200 grpc-status %d", g.status, g.header.Get("Grpc-Status"), g.header, g.body, tt.grpcCode)
			}
			if local, _ := p.obs.events(); !reflect.DeepEqual(local, []string{tt.reason, tt.reason}) {
				t.Errorf("observer saw local replies %q, want %q twice", local, tt.reason)
			}
		})
	}
}

func retryPolicy(on config.RetryOn, attempts int, codes ...int) *config.RetryPolicy {
	return &config.RetryPolicy{On: on, Attempts: attempts, RetriableStatusCodes: codes, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond}
}

func TestRetries(t *testing.T) {
	grpcUnavailable := respond(http.StatusOK, -1, "Content-Type", "application/grpc", "Grpc-Status", "14", "Grpc-Message", "down")
	grpcOK := respond(http.StatusOK, -1, "Content-Type", "application/grpc", "Grpc-Status", "0")
	tests := []struct {
		name         string
		first, next  http.HandlerFunc // the backends of priority 0 and 1
		route, vh    *config.RetryPolicy
		grpc         bool
		status       int
		from         string // X-Backend of the response
		grpcStatus   string
		hits         [2]int
		retryReasons []string
	}{
		{name: "retriable status code", first: respond(503, -1), route: retryPolicy(config.RetryRetriableStatusCodes, 1, 503),
			status: 200, from: "next", hits: [2]int{1, 1}, retryReasons: []string{"retriable-status-codes"}},
		{name: "status not in the retriable list", first: respond(503, -1), route: retryPolicy(config.RetryRetriableStatusCodes, 1, 502, 504),
			status: 503, from: "first", hits: [2]int{1, 0}},
		{name: "no retry policy", first: respond(503, -1), status: 503, from: "first", hits: [2]int{1, 0}},
		{name: "virtual host policy", first: respond(500, -1), vh: retryPolicy(config.Retry5xx, 1),
			status: 200, from: "next", hits: [2]int{1, 1}, retryReasons: []string{"5xx"}},
		{name: "route policy replaces the virtual host's", first: respond(500, -1), vh: retryPolicy(config.Retry5xx, 1), route: retryPolicy(config.RetryGatewayError, 1),
			status: 500, from: "first", hits: [2]int{1, 0}},
		{name: "gateway error", first: respond(502, -1), route: retryPolicy(config.RetryGatewayError, 1),
			status: 200, from: "next", hits: [2]int{1, 1}, retryReasons: []string{"gateway-error"}},
		{name: "retriable 4xx", first: respond(409, -1), route: retryPolicy(config.RetryRetriable4xx, 1),
			status: 200, from: "next", hits: [2]int{1, 1}, retryReasons: []string{"retriable-4xx"}},
		{name: "gRPC unavailable", first: grpcUnavailable, next: grpcOK, route: retryPolicy(config.RetryGRPCUnavailable, 1), grpc: true,
			status: 200, from: "next", grpcStatus: "0", hits: [2]int{1, 1}, retryReasons: []string{"unavailable"}},
		{name: "gRPC unavailable without the condition", first: grpcUnavailable, next: grpcOK, route: retryPolicy(config.RetryGRPCCancelled|config.Retry5xx, 1), grpc: true,
			status: 200, from: "first", grpcStatus: "14", hits: [2]int{1, 0}},
		{name: "attempts run out", first: respond(503, -1), next: respond(503, -1), route: retryPolicy(config.Retry5xx, 3),
			status: 503, hits: [2]int{3, 1}, retryReasons: []string{"5xx", "5xx", "5xx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, next := startBackend(t, "first", tt.first), startBackend(t, "next", tt.next)
			fwd := forwardTo("web")
			fwd.Retry = tt.route
			vh := anyHost(&config.Route{Match: prefixMatch("/"), Forward: fwd})
			vh.Retry = tt.vh
			p := startProxy(t, table(vh), newCluster(t, "web", []*backend{first}, []*backend{next}))
			c := call{path: "/x"}
			if tt.grpc {
				c = call{method: http.MethodPost, path: "/pkg.Svc/Get", header: []string{"Content-Type", "application/grpc"}, body: strings.NewReader("\x00\x00\x00\x00\x00")}
			}
			r := p.do(t, c)
			if r.status != tt.status || (tt.from != "" && r.header.Get("X-Backend") != tt.from) || r.header.Get("Grpc-Status") != tt.grpcStatus {
				t.Errorf("got %d from %q with grpc-status %q, want %d from %q with %q", r.status, r.header.Get("X-Backend"), r.header.Get("Grpc-Status"), tt.status, tt.from, tt.grpcStatus)
			}
			if got := [2]int{len(first.requests()), len(next.requests())}; got != tt.hits {
				t.Errorf("backends got %v requests, want %v", got, tt.hits)
			}
			if _, retries := p.obs.events(); !reflect.DeepEqual(retries, tt.retryReasons) {
				t.Errorf("retries %q, want %q", retries, tt.retryReasons)
			}
		})
	}
}

func TestRetryReplaysTheBody(t *testing.T) {
	const limit = maxReplayBytes
	tests := []struct {
		name    string
		size    int
		chunked bool
		read    int64 // how much the failing backend reads; -1: all
		retried bool
	}{
		{name: "read in full", size: 1000, read: -1, retried: true},
		{name: "read in part", size: 50_000, read: 10, retried: true},
		{name: "chunked", size: 20_000, chunked: true, read: -1, retried: true},
		{name: "exactly the replay limit", size: limit, read: -1, retried: true},
		{name: "one byte over the limit", size: limit + 1, read: -1},
		{name: "large and chunked", size: 200 << 10, chunked: true, read: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := make([]byte, tt.size)
			_, _ = rand.Read(body)
			first, next := startBackend(t, "first", respond(http.StatusServiceUnavailable, tt.read)), startBackend(t, "next", echo)
			fwd := forwardTo("web")
			fwd.Retry = retryPolicy(config.RetryRetriableStatusCodes, 2, 503)
			p := startProxy(t, table(anyHost(&config.Route{Match: prefixMatch("/"), Forward: fwd})), newCluster(t, "web", []*backend{first}, []*backend{next}))
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			r := p.do(t, call{method: http.MethodPost, path: "/upload", body: rd})

			firstSeen, nextSeen := first.requests(), next.requests()
			if len(firstSeen) != 1 {
				t.Fatalf("the first backend got %d requests, want 1", len(firstSeen))
			}
			wantFirst := body
			if tt.read >= 0 {
				wantFirst = body[:tt.read]
			}
			if !bytes.Equal(firstSeen[0].body, wantFirst) {
				t.Errorf("the first backend read %d bytes, want the first %d of the body", len(firstSeen[0].body), len(wantFirst))
			}
			if !tt.retried {
				if r.status != http.StatusServiceUnavailable || r.header.Get("X-Backend") != "first" || len(nextSeen) != 0 {
					t.Fatalf("a body over the replay limit was retried: got %d from %q, next backend got %d requests", r.status, r.header.Get("X-Backend"), len(nextSeen))
				}
				return
			}
			if r.status != http.StatusOK || r.header.Get("X-Backend") != "next" || len(nextSeen) != 1 {
				t.Fatalf("got %d from %q, next backend got %d requests; want the retry to reach it", r.status, r.header.Get("X-Backend"), len(nextSeen))
			}
			if !bytes.Equal(nextSeen[0].body, body) || r.body != string(body) {
				t.Fatalf("the retry carried %d bytes (echoed %d), want the whole %d byte body", len(nextSeen[0].body), len(r.body), len(body))
			}
		})
	}
}
