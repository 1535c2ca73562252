package dashboard

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/plexus-mesh/plexus/internal/monitoring"
)

// failedRequest tells whether a requests series counts failed requests. It
// is built from monitoring.ErrorSelectors, the definition the alerts and
// Grafana dashboards use, so that the proxies source can never disagree
// with them.
var failedRequest = mustParsePromSelectors(monitoring.ErrorSelectors[:]...)

// promSelectorUnion matches a label set that any of its selectors matches.
type promSelectorUnion []promSelector

// promSelector matches a label set that all of its matchers match.
type promSelector []promLabelMatcher

// promLabelMatcher is one PromQL label matcher: name, op ("=", "!=", "=~",
// "!~") and value. Regular expressions are anchored, as in PromQL.
type promLabelMatcher struct {
	name, op, value string
	re              *regexp.Regexp
}

// matches tells whether labels (a missing label is "", as in PromQL) match
// any selector of the union.
func (u promSelectorUnion) matches(labels map[string]string) bool {
	for _, s := range u {
		if s.matches(labels) {
			return true
		}
	}
	return false
}

func (s promSelector) matches(labels map[string]string) bool {
	for _, m := range s {
		if !m.matches(labels[m.name]) {
			return false
		}
	}
	return true
}

func (m promLabelMatcher) matches(v string) bool {
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default: // "!~"
		return !m.re.MatchString(v)
	}
}

// promMatcherSyntax is one matcher of a selector body: name, op, quoted value.
var promMatcherSyntax = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*(?:,|$)`)

// parsePromSelector parses the inside of a PromQL selector's braces, such as
// `code=~"5..",method!="GET"`.
func parsePromSelector(body string) (promSelector, error) {
	var s promSelector
	for rest := strings.TrimSpace(body); rest != ""; {
		g := promMatcherSyntax.FindStringSubmatch(rest)
		if g == nil {
			return nil, fmt.Errorf("selector %q: cannot parse a label matcher at %q", body, rest)
		}
		rest = strings.TrimSpace(rest[len(g[0]):])
		value, err := strconv.Unquote(g[3])
		if err != nil {
			return nil, fmt.Errorf("selector %q: value %s: %w", body, g[3], err)
		}
		m := promLabelMatcher{name: g[1], op: g[2], value: value}
		if m.op == "=~" || m.op == "!~" {
			if m.re, err = regexp.Compile("^(?:" + value + ")$"); err != nil {
				return nil, fmt.Errorf("selector %q: %w", body, err)
			}
		}
		s = append(s, m)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("selector %q has no label matcher", body)
	}
	return s, nil
}

// mustParsePromSelectors parses selectors that are part of the program;
// tests make sure it does not panic.
func mustParsePromSelectors(bodies ...string) promSelectorUnion {
	var u promSelectorUnion
	for _, b := range bodies {
		s, err := parsePromSelector(b)
		if err != nil {
			panic("dashboard: " + err.Error())
		}
		u = append(u, s)
	}
	return u
}
