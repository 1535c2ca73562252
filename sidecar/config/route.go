package config

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Default retry backoff (Envoy's): 25ms base, 10x that at most.
const (
	DefaultBackoffBase = 25 * time.Millisecond
	maxRegexLength     = 1024
)

// CompileRouteTable compiles an xDS RouteConfiguration.
func CompileRouteTable(rc *routev3.RouteConfiguration) (*RouteTable, error) {
	out := &RouteTable{Name: rc.GetName(), exact: map[string]*VirtualHost{}}
	seen := map[string]string{}
	for i, vh := range rc.GetVirtualHosts() {
		v, err := compileVirtualHost(vh)
		if err != nil {
			return nil, fmt.Errorf("route configuration %q: virtual_hosts[%d] %q: %w", rc.GetName(), i, vh.GetName(), err)
		}
		for _, d := range v.Domains {
			if other, dup := seen[d]; dup {
				return nil, fmt.Errorf("route configuration %q: domain %q is in both virtual hosts %q and %q", rc.GetName(), d, other, v.Name)
			}
			seen[d] = v.Name
			if !strings.Contains(d, "*") {
				out.exact[d] = v
			}
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}

func compileVirtualHost(vh *routev3.VirtualHost) (*VirtualHost, error) {
	if len(vh.GetDomains()) == 0 {
		return nil, errors.New("no domains")
	}
	out := &VirtualHost{Name: vh.GetName()}
	for _, d := range vh.GetDomains() {
		d = strings.ToLower(d)
		if strings.Count(d, "*") > 1 || (strings.Contains(d, "*") && d != "*" && !strings.HasPrefix(d, "*") && !strings.HasSuffix(d, "*")) {
			return nil, fmt.Errorf("domain %q: a wildcard may only stand at the start or the end", d)
		}
		out.Domains = append(out.Domains, d)
	}
	var err error
	if out.RequestHeaders, err = headerMutation(vh.GetRequestHeadersToAdd(), vh.GetRequestHeadersToRemove()); err != nil {
		return nil, err
	}
	if out.ResponseHeaders, err = headerMutation(vh.GetResponseHeadersToAdd(), vh.GetResponseHeadersToRemove()); err != nil {
		return nil, err
	}
	if vh.GetRetryPolicy() != nil {
		if out.Retry, err = compileRetry(vh.GetRetryPolicy()); err != nil {
			return nil, fmt.Errorf("retry_policy: %w", err)
		}
	}
	for i, r := range vh.GetRoutes() {
		cr, err := compileRoute(r)
		if err != nil {
			return nil, fmt.Errorf("routes[%d] %q: %w", i, r.GetName(), err)
		}
		out.Routes = append(out.Routes, cr)
	}
	return out, nil
}

func compileRoute(r *routev3.Route) (*Route, error) {
	out := &Route{Name: r.GetName()}
	var err error
	if out.Match, err = compileRouteMatch(r.GetMatch()); err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	if out.RequestHeaders, err = headerMutation(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove()); err != nil {
		return nil, err
	}
	if out.ResponseHeaders, err = headerMutation(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove()); err != nil {
		return nil, err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		out.Forward, err = compileForward(a.Route)
	case *routev3.Route_Redirect:
		out.Redirect, err = compileRedirect(a.Redirect)
	case *routev3.Route_DirectResponse:
		out.Direct, err = compileDirect(a.DirectResponse)
	default:
		err = errors.New("action must be route, redirect or direct_response")
	}
	return out, err
}

func compileRouteMatch(m *routev3.RouteMatch) (RouteMatch, error) {
	out := RouteMatch{CaseInsensitive: !boolOr(m.GetCaseSensitive(), true), GRPCOnly: m.GetGrpc() != nil}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.PathKind, out.Path = PathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		out.PathKind, out.Path = PathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		if strings.ContainsAny(p.PathSeparatedPrefix, "?#") || strings.HasSuffix(p.PathSeparatedPrefix, "/") {
			return out, fmt.Errorf("path_separated_prefix %q must not end in '/' or contain '?' or '#'", p.PathSeparatedPrefix)
		}
		out.PathKind, out.Path = PathSegmentPrefix, p.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(p.SafeRegex.GetRegex())
		if err != nil {
			return out, fmt.Errorf("safe_regex: %w", err)
		}
		out.PathKind, out.PathRegex = PathRegex, re
	default:
		return out, errors.New("a path match (prefix, path, path_separated_prefix or safe_regex) is required")
	}
	if out.CaseInsensitive && out.PathKind != PathRegex {
		out.Path = strings.ToLower(out.Path)
	}
	for i, h := range m.GetHeaders() {
		hm, err := compileHeaderMatch(h)
		if err != nil {
			return out, fmt.Errorf("headers[%d] %q: %w", i, h.GetName(), err)
		}
		out.Headers = append(out.Headers, hm)
	}
	for i, q := range m.GetQueryParameters() {
		qm := QueryMatch{Name: q.GetName()}
		switch {
		case q.GetPresentMatch():
			qm.Match = StringMatch{Kind: MatchPresent}
		case q.GetStringMatch() != nil:
			sm, err := compileStringMatch(q.GetStringMatch())
			if err != nil {
				return out, fmt.Errorf("query_parameters[%d] %q: %w", i, q.GetName(), err)
			}
			qm.Match = sm
		default:
			return out, fmt.Errorf("query_parameters[%d] %q: set string_match or present_match", i, q.GetName())
		}
		out.Query = append(out.Query, qm)
	}
	return out, nil
}

func compileHeaderMatch(h *routev3.HeaderMatcher) (HeaderMatch, error) {
	name := strings.ToLower(h.GetName())
	if name == "" {
		return HeaderMatch{}, errors.New("header name is required")
	}
	out := HeaderMatch{Name: name, Invert: h.GetInvertMatch()}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		sm, err := compileStringMatch(s.StringMatch)
		if err != nil {
			return out, err
		}
		out.Match = sm
	case *routev3.HeaderMatcher_PresentMatch:
		out.Match = StringMatch{Kind: MatchPresent}
		if !s.PresentMatch {
			out.Invert = !out.Invert
		}
	case nil:
		out.Match = StringMatch{Kind: MatchPresent}
	default:
		return out, fmt.Errorf("header match %T is not supported: use string_match or present_match", s)
	}
	return out, nil
}

func compileStringMatch(m *matcherv3.StringMatcher) (StringMatch, error) {
	out := StringMatch{IgnoreCase: m.GetIgnoreCase()}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		out.Kind, out.Value = MatchExact, p.Exact
	case *matcherv3.StringMatcher_Prefix:
		out.Kind, out.Value = MatchPrefix, p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		out.Kind, out.Value = MatchSuffix, p.Suffix
	case *matcherv3.StringMatcher_Contains:
		out.Kind, out.Value = MatchContains, p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		// Envoy: ignore_case "has no effect for safe_regex". Lowercasing the
		// value would make a pattern with upper case letters never match.
		if m.GetIgnoreCase() {
			return out, errors.New("ignore_case has no effect on safe_regex: use (?i) in the regex")
		}
		re, err := compileRegex(p.SafeRegex.GetRegex())
		if err != nil {
			return out, err
		}
		out.Kind, out.Regex = MatchRegex, re
	default:
		return out, errors.New("string match needs exact, prefix, suffix, contains or safe_regex")
	}
	if out.IgnoreCase {
		out.Value = strings.ToLower(out.Value)
	}
	return out, nil
}

// compileRegex compiles an RE2 pattern that must match the whole input, as
// Envoy's safe_regex does.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > maxRegexLength {
		return nil, fmt.Errorf("regex is %d bytes long, over the %d byte limit", len(pattern), maxRegexLength)
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("regex %q does not compile: %w", pattern, err)
	}
	return re, nil
}

func compileForward(a *routev3.RouteAction) (*Forward, error) {
	out := &Forward{PrefixRewrite: a.GetPrefixRewrite(), HostRewrite: a.GetHostRewriteLiteral()}
	switch cs := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		if cs.Cluster == "" {
			return nil, errors.New("route.cluster is empty")
		}
		out.Backends = []WeightedBackend{{Cluster: cs.Cluster, Weight: 1}}
	case *routev3.RouteAction_WeightedClusters:
		for i, wc := range cs.WeightedClusters.GetClusters() {
			if wc.GetName() == "" {
				return nil, fmt.Errorf("weighted_clusters.clusters[%d]: name is required", i)
			}
			b := WeightedBackend{Cluster: wc.GetName(), Weight: wc.GetWeight().GetValue()}
			var err error
			if b.RequestHeaders, err = headerMutation(wc.GetRequestHeadersToAdd(), wc.GetRequestHeadersToRemove()); err != nil {
				return nil, err
			}
			if b.ResponseHeaders, err = headerMutation(wc.GetResponseHeadersToAdd(), wc.GetResponseHeadersToRemove()); err != nil {
				return nil, err
			}
			out.Backends = append(out.Backends, b)
		}
	default:
		return nil, errors.New("route needs cluster or weighted_clusters")
	}
	for _, b := range out.Backends {
		out.TotalWeight += b.Weight
	}
	if out.TotalWeight == 0 {
		return nil, errors.New("the weights of weighted_clusters add up to 0")
	}
	var err error
	// Envoy's default route timeout is 15s; Plexus's control plane always
	// sets it, and 0 means no timeout.
	if out.Timeout, err = durationOr(a.GetTimeout(), 15*time.Second, "timeout"); err != nil {
		return nil, err
	}
	if out.IdleTimeout, err = durationOr(a.GetIdleTimeout(), 0, "idle_timeout"); err != nil {
		return nil, err
	}
	if a.GetRetryPolicy() != nil {
		if out.Retry, err = compileRetry(a.GetRetryPolicy()); err != nil {
			return nil, fmt.Errorf("retry_policy: %w", err)
		}
	}
	if rr := a.GetRegexRewrite(); rr != nil {
		re, err := regexp.Compile(rr.GetPattern().GetRegex())
		if err != nil {
			return nil, fmt.Errorf("regex_rewrite: %w", err)
		}
		subst, err := re2Substitution(rr.GetSubstitution(), re.NumSubexp())
		if err != nil {
			return nil, fmt.Errorf("regex_rewrite: %w", err)
		}
		out.RegexRewrite, out.RegexSubst = re, subst
	}
	if out.PrefixRewrite != "" && out.RegexRewrite != nil {
		return nil, errors.New("set prefix_rewrite or regex_rewrite, not both")
	}
	return out, nil
}

// re2Substitution converts an xDS substitution, in RE2 syntax (\1 is
// capture group 1, \\ a backslash), to the template of Go's
// Regexp.ReplaceAllString (${1}, with a literal $ written $$).
func re2Substitution(s string, groups int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c != '\\':
			b.WriteByte(c)
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			n := int(s[i+1] - '0')
			if n > groups {
				return "", fmt.Errorf("substitution %q refers to group %d, but the pattern has %d", s, n, groups)
			}
			fmt.Fprintf(&b, "${%d}", n)
			i++
		default:
			return "", fmt.Errorf("substitution %q: a backslash must be followed by a digit or a backslash", s)
		}
	}
	return b.String(), nil
}

// retryOnNames maps Envoy's retry_on names to conditions.
var retryOnNames = map[string]RetryOn{
	"5xx":                    Retry5xx,
	"gateway-error":          RetryGatewayError,
	"reset":                  RetryReset,
	"connect-failure":        RetryConnectFailure,
	"retriable-4xx":          RetryRetriable4xx,
	"refused-stream":         RetryRefusedStream,
	"retriable-status-codes": RetryRetriableStatusCodes,
	"cancelled":              RetryGRPCCancelled,
	"deadline-exceeded":      RetryGRPCDeadlineExceeded,
	"unavailable":            RetryGRPCUnavailable,
	"resource-exhausted":     RetryGRPCResourceExhausted,
	"internal":               RetryGRPCInternal,
}

// ParseRetryOn parses a comma-separated list of retry conditions.
func ParseRetryOn(s string) (RetryOn, error) {
	var on RetryOn
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		c, ok := retryOnNames[name]
		if !ok {
			return 0, fmt.Errorf("unknown retry condition %q", name)
		}
		on |= c
	}
	return on, nil
}

func compileRetry(p *routev3.RetryPolicy) (*RetryPolicy, error) {
	on, err := ParseRetryOn(p.GetRetryOn())
	if err != nil {
		return nil, err
	}
	out := &RetryPolicy{On: on, Attempts: u32Or(p.GetNumRetries(), 1)}
	if out.PerTryTimeout, err = durationOr(p.GetPerTryTimeout(), 0, "per_try_timeout"); err != nil {
		return nil, err
	}
	for _, c := range p.GetRetriableStatusCodes() {
		if c < 100 || c > 599 {
			return nil, fmt.Errorf("retriable status code %d is not an HTTP status", c)
		}
		out.RetriableStatusCodes = append(out.RetriableStatusCodes, int(c))
	}
	if out.BackoffBase, err = durationOr(p.GetRetryBackOff().GetBaseInterval(), DefaultBackoffBase, "retry_back_off.base_interval"); err != nil {
		return nil, err
	}
	if out.BackoffBase == 0 {
		out.BackoffBase = DefaultBackoffBase
	}
	if out.BackoffMax, err = durationOr(p.GetRetryBackOff().GetMaxInterval(), 10*out.BackoffBase, "retry_back_off.max_interval"); err != nil {
		return nil, err
	}
	if out.BackoffMax < out.BackoffBase {
		return nil, errors.New("retry_back_off.max_interval is shorter than base_interval")
	}
	return out, nil
}

func compileRedirect(r *routev3.RedirectAction) (*Redirect, error) {
	out := &Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), StripQuery: r.GetStripQuery()}
	if r.GetHttpsRedirect() {
		out.Scheme = "https"
	} else {
		out.Scheme = r.GetSchemeRedirect()
	}
	out.Path, out.PrefixRewrite = r.GetPathRedirect(), r.GetPrefixRewrite()
	if r.GetRegexRewrite() != nil {
		return nil, errors.New("regex_rewrite in redirects is not supported")
	}
	switch r.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		out.Code = http.StatusMovedPermanently
	case routev3.RedirectAction_FOUND:
		out.Code = http.StatusFound
	case routev3.RedirectAction_SEE_OTHER:
		out.Code = http.StatusSeeOther
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		out.Code = http.StatusTemporaryRedirect
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		out.Code = http.StatusPermanentRedirect
	}
	if out.Port > 65535 {
		return nil, fmt.Errorf("port_redirect %d is out of range", out.Port)
	}
	return out, nil
}

func compileDirect(d *routev3.DirectResponseAction) (*DirectResponse, error) {
	if d.GetStatus() < 200 || d.GetStatus() > 599 {
		return nil, fmt.Errorf("direct_response status %d must be 200-599", d.GetStatus())
	}
	out := &DirectResponse{Status: int(d.GetStatus())}
	if b := d.GetBody(); b != nil {
		switch s := b.GetSpecifier().(type) {
		case *corev3.DataSource_InlineString:
			out.Body = s.InlineString
		case *corev3.DataSource_InlineBytes:
			out.Body = string(s.InlineBytes)
		default:
			return nil, errors.New("direct_response body must be inline")
		}
	}
	return out, nil
}

// Headers a route may not change: they would break the connection or the
// proxy's own bookkeeping.
var protectedHeaders = map[string]bool{
	"connection": true, "transfer-encoding": true, "content-length": true, "upgrade": true,
	"te": true, "trailer": true, "keep-alive": true, "proxy-connection": true, "host": true,
}

func headerMutation(add []*corev3.HeaderValueOption, remove []string) (HeaderMutation, error) {
	var m HeaderMutation
	for _, h := range add {
		name := strings.ToLower(h.GetHeader().GetKey())
		if err := checkMutableHeader(name); err != nil {
			return m, err
		}
		v := HeaderValue{Name: name, Value: h.GetHeader().GetValue()}
		if v.Value == "" && len(h.GetHeader().GetRawValue()) > 0 {
			v.Value = string(h.GetHeader().GetRawValue())
		}
		switch h.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			v.Action = HeaderAppend
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			v.Action = HeaderOverwrite
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			v.Action = HeaderAddIfAbsent
		default:
			return m, fmt.Errorf("header %q: append action %s is not supported", name, h.GetAppendAction())
		}
		m.Add = append(m.Add, v)
	}
	for _, r := range remove {
		name := strings.ToLower(r)
		if err := checkMutableHeader(name); err != nil {
			return m, err
		}
		m.Remove = append(m.Remove, name)
	}
	return m, nil
}

func checkMutableHeader(name string) error {
	if name == "" || strings.HasPrefix(name, ":") || protectedHeaders[name] {
		return fmt.Errorf("header %q cannot be added or removed by a route", name)
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return fmt.Errorf("header name %q is not a valid HTTP token", name)
		}
	}
	return nil
}
