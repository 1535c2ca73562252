package httpproxy

import (
	"net"
	"net/http"
	"strings"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// selectVirtualHost picks the virtual host for an authority the way Envoy
// does: an exact domain first, then the longest suffix wildcard
// ("*.example.com"), then the longest prefix wildcard ("example.*"), then
// "*". Domains may carry a port; the authority is tried with and without.
func selectVirtualHost(rt *config.RouteTable, authority string) *config.VirtualHost {
	host := strings.ToLower(authority)
	candidates := []string{host}
	if h, _, err := net.SplitHostPort(host); err == nil {
		candidates = append(candidates, h)
	}
	// An exact domain outranks every wildcard, and the authority with its
	// port is the longer, winning match.
	for _, c := range candidates {
		if vh := rt.ExactHost(c); vh != nil {
			return vh
		}
	}
	var best *config.VirtualHost
	bestRank, bestLen := 0, -1
	for _, vh := range rt.VirtualHosts {
		for _, d := range vh.Domains {
			for _, c := range candidates {
				rank, n := domainMatch(d, c)
				if rank > bestRank || (rank == bestRank && rank > 0 && n > bestLen) {
					best, bestRank, bestLen = vh, rank, n
				}
			}
		}
	}
	return best
}

// domainMatch ranks how d matches host: 4 exact, 3 suffix wildcard, 2
// prefix wildcard, 1 catch-all, 0 no match; n is the matched length.
func domainMatch(d, host string) (rank, n int) {
	switch {
	case d == host:
		return 4, len(d)
	case d == "*":
		return 1, 0
	case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
		return 3, len(d)
	case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1:
		return 2, len(d)
	}
	return 0, 0
}

// selectRoute returns the first route whose conditions the request meets.
func selectRoute(vh *config.VirtualHost, r *http.Request) *config.Route {
	for _, route := range vh.Routes {
		if routeMatches(&route.Match, r) {
			return route
		}
	}
	return nil
}

func routeMatches(m *config.RouteMatch, r *http.Request) bool {
	path := r.URL.EscapedPath()
	if m.CaseInsensitive && m.PathKind != config.PathRegex {
		path = strings.ToLower(path)
	}
	switch m.PathKind {
	case config.PathPrefix:
		if !strings.HasPrefix(path, m.Path) {
			return false
		}
	case config.PathExact:
		if path != m.Path {
			return false
		}
	case config.PathSegmentPrefix:
		if path != m.Path && !strings.HasPrefix(path, m.Path+"/") {
			return false
		}
	case config.PathRegex:
		if !m.PathRegex.MatchString(path) {
			return false
		}
	}
	if m.GRPCOnly && !isGRPC(r) {
		return false
	}
	for i := range m.Headers {
		if !headerMatches(&m.Headers[i], r) {
			return false
		}
	}
	if len(m.Query) > 0 {
		q := r.URL.Query()
		for i := range m.Query {
			vals, ok := q[m.Query[i].Name]
			if !ok || !stringMatches(&m.Query[i].Match, vals[0], true) {
				return false
			}
		}
	}
	return true
}

func headerMatches(m *config.HeaderMatch, r *http.Request) bool {
	var value string
	var present bool
	switch m.Name {
	case ":method":
		value, present = r.Method, true
	case ":authority", "host":
		value, present = r.Host, true
	case ":path":
		value, present = r.URL.RequestURI(), true
	case ":scheme":
		value, present = "http", true
	default:
		vals := r.Header.Values(m.Name)
		present = len(vals) > 0
		value = strings.Join(vals, ",")
	}
	return stringMatches(&m.Match, value, present) != m.Invert
}

func stringMatches(m *config.StringMatch, value string, present bool) bool {
	return present && m.Matches(value)
}

func isGRPC(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}
