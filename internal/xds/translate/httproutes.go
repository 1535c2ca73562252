package translate

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// serviceRoutes are the routes of one service port for a proxy in
// namespace proxyNS, following GAMMA: routes in the service's namespace
// (producer routes) apply to every caller, unless the caller's namespace has
// its own routes for the service (consumer routes), which then replace
// them. A service port without routes gets one route to itself.
func serviceRoutes(m *model.Mesh, proxyNS string, svc *model.Service, port model.ServicePort, cluster string, t model.Traffic) []*routev3.Route {
	var producer, consumer []*model.Route
	for _, r := range m.Routes {
		if !attaches(r, svc.Key, port.Port) {
			continue
		}
		switch r.Key.Namespace {
		case svc.Key.Namespace:
			producer = append(producer, r)
		case proxyNS:
			consumer = append(consumer, r)
		}
	}
	chosen := producer
	if len(consumer) > 0 {
		chosen = consumer
	}
	if len(chosen) == 0 {
		return []*routev3.Route{defaultRoute(cluster, t)}
	}
	type entry struct {
		route *model.Route
		rule  *model.RouteRule
		index int // rule index within the route
		match model.RouteMatch
	}
	var entries []entry
	for _, r := range chosen { // oldest first
		for i := range r.Rules {
			matches := r.Rules[i].Matches
			if len(matches) == 0 {
				matches = []model.RouteMatch{{}}
			}
			for _, mt := range matches {
				entries = append(entries, entry{route: r, rule: &r.Rules[i], index: i, match: mt})
			}
		}
	}
	// Gateway API precedence; the sort is stable, so ties keep route age,
	// then rule order.
	sort.SliceStable(entries, func(i, j int) bool { return morePrecise(entries[i].match, entries[j].match) })
	out := make([]*routev3.Route, 0, len(entries))
	for _, e := range entries {
		out = append(out, translateRule(m, e.route, e.index, e.rule, e.match, t))
	}
	return out
}

func attaches(r *model.Route, svc model.NamespacedName, port uint32) bool {
	for _, p := range r.Parents {
		if p.Service == svc && (p.Port == 0 || p.Port == port) {
			return true
		}
	}
	return false
}

// morePrecise orders matches: exact path, then the longest path prefix,
// then regular expressions, then a method match, then more header matches,
// then more query parameter matches.
func morePrecise(a, b model.RouteMatch) bool {
	rank := func(m model.RouteMatch) (int, int) {
		if m.Path == nil {
			return 1, 1 // "/" prefix
		}
		switch m.Path.Type {
		case model.PathExact:
			return 3, len(m.Path.Value)
		case model.PathRegularExp:
			return 0, 0
		}
		return 1, len(m.Path.Value)
	}
	ra, la := rank(a)
	rb, lb := rank(b)
	switch {
	case ra != rb:
		return ra > rb
	case la != lb:
		return la > lb
	case (a.Method != "") != (b.Method != ""):
		return a.Method != ""
	case len(a.Headers) != len(b.Headers):
		return len(a.Headers) > len(b.Headers)
	}
	return len(a.Query) > len(b.Query)
}

func translateRule(m *model.Mesh, r *model.Route, index int, rule *model.RouteRule, mt model.RouteMatch, t model.Traffic) *routev3.Route {
	out := &routev3.Route{Name: r.Key.String() + "/" + itoa(index), Match: routeMatch(mt)}
	if r.GRPC {
		out.Match.Grpc = &routev3.RouteMatch_GrpcRouteMatchOptions{}
	}
	if h := rule.Filters.RequestHeaders; h != nil {
		out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerOptions(h), h.Remove
	}
	if h := rule.Filters.ResponseHeaders; h != nil {
		out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerOptions(h), h.Remove
	}
	if rd := rule.Filters.Redirect; rd != nil {
		out.Action = &routev3.Route_Redirect{Redirect: redirect(rd, mt)}
		return out
	}
	var backends []*routev3.WeightedCluster_ClusterWeight
	for _, b := range rule.Backends {
		svc := m.Service(b.Service)
		if svc == nil || b.Weight == 0 {
			continue
		}
		port := b.Port
		if port == 0 && len(svc.Ports) == 1 {
			port = svc.Ports[0].Port
		}
		if !svc.HasPort(port) {
			continue
		}
		backends = append(backends, &routev3.WeightedCluster_ClusterWeight{Name: ClusterName(b.Service, port), Weight: build.UInt32(b.Weight)})
	}
	if len(backends) == 0 {
		// Gateway API: requests for a rule whose backends cannot be
		// resolved get a 500.
		out.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: http.StatusInternalServerError}}
		return out
	}
	action := &routev3.RouteAction{Timeout: build.Duration(t.RequestTimeout)}
	if len(backends) == 1 {
		action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: backends[0].GetName()}
	} else {
		action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: backends}}
	}
	if rule.Timeout > 0 {
		action.Timeout = build.Duration(rule.Timeout)
	}
	retries := t.Retries
	if rule.Retries != nil {
		retries = rule.Retries
	}
	action.RetryPolicy = retryPolicy(retries)
	if rule.BackendTimeout > 0 {
		if action.RetryPolicy == nil {
			action.RetryPolicy = &routev3.RetryPolicy{NumRetries: build.UInt32(0)}
		}
		action.RetryPolicy.PerTryTimeout = build.Duration(rule.BackendTimeout)
	}
	if rw := rule.Filters.Rewrite; rw != nil {
		action.HostRewriteSpecifier = hostRewrite(rw.Host)
		switch {
		case rw.Path != "":
			action.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/.*$"}, Substitution: rw.Path}
		case rw.PrefixReplace != "":
			action.PrefixRewrite = rw.PrefixReplace
		}
	}
	out.Action = &routev3.Route_Route{Route: action}
	return out
}

func hostRewrite(host string) *routev3.RouteAction_HostRewriteLiteral {
	if host == "" {
		return nil
	}
	return &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: host}
}

func routeMatch(mt model.RouteMatch) *routev3.RouteMatch {
	out := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if p := mt.Path; p != nil {
		switch {
		case p.Type == model.PathExact:
			out.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Value}
		case p.Type == model.PathRegularExp:
			out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Value}}
		case strings.TrimSuffix(p.Value, "/") != "":
			// Gateway API prefixes match whole path segments.
			out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: strings.TrimSuffix(p.Value, "/")}
		}
	}
	for _, h := range mt.Headers {
		out.Headers = append(out.Headers, &routev3.HeaderMatcher{Name: strings.ToLower(h.Name), HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(h)}})
	}
	for _, q := range mt.Query {
		out.QueryParameters = append(out.QueryParameters, &routev3.QueryParameterMatcher{Name: q.Name, QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q)}})
	}
	if mt.Method != "" {
		out.Headers = append(out.Headers, &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: mt.Method}}}})
	}
	return out
}

func stringMatcher(v model.ValueMatch) *matcherv3.StringMatcher {
	if v.Type == model.MatchRegularExp {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v.Value}}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v.Value}}
}

func headerOptions(h *model.HeaderModifier) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, k := range slices.Sorted(maps.Keys(h.Set)) {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: h.Set[k]}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, k := range slices.Sorted(maps.Keys(h.Add)) {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: h.Add[k]}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return out
}

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	http.StatusMovedPermanently:  routev3.RedirectAction_MOVED_PERMANENTLY,
	http.StatusFound:             routev3.RedirectAction_FOUND,
	http.StatusSeeOther:          routev3.RedirectAction_SEE_OTHER,
	http.StatusTemporaryRedirect: routev3.RedirectAction_TEMPORARY_REDIRECT,
	http.StatusPermanentRedirect: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirect(rd *model.Redirect, mt model.RouteMatch) *routev3.RedirectAction {
	out := &routev3.RedirectAction{HostRedirect: rd.Host, PortRedirect: rd.Port, ResponseCode: routev3.RedirectAction_FOUND}
	if code, ok := redirectCodes[rd.StatusCode]; ok {
		out.ResponseCode = code
	}
	if rd.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: rd.Scheme}
	}
	switch {
	case rd.Path != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: rd.Path}
	case rd.PrefixReplace != "" && mt.Path != nil:
		out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: rd.PrefixReplace}
	}
	return out
}
