package model

import (
	"fmt"
	"regexp"
	"strings"
)

// Wildcard in an egress rule or export list matches any namespace or name.
const Wildcard = "*"

// EgressRule names services a workload calls: Namespace/Name, where either
// may be Wildcard.
type EgressRule struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r EgressRule) String() string { return r.Namespace + "/" + r.Name }

// Matches reports whether the rule covers the service key.
func (r EgressRule) Matches(key NamespacedName) bool {
	return (r.Namespace == Wildcard || r.Namespace == key.Namespace) && (r.Name == Wildcard || r.Name == key.Name)
}

// ParseEgress reads "ns/name,ns/*,*/name" (the egress annotation and flag);
// "." as the namespace means own, the workload's namespace.
func ParseEgress(s, own string) ([]EgressRule, error) {
	var out []EgressRule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ns, name, ok := strings.Cut(item, "/")
		if ns == "." {
			ns = own
		}
		if !ok || !nameOrWildcard(ns) || !nameOrWildcard(name) {
			return nil, fmt.Errorf("egress %q: want NAMESPACE/SERVICE, where either may be * and . is the workload's own namespace, such as ./*,billing/payments", item)
		}
		out = append(out, EgressRule{Namespace: ns, Name: name})
	}
	return out, nil
}

// ParseExportTo reads "*" or "ns1,ns2" (the export-to annotation); "."
// is the service's own namespace. It returns nil for "*": everywhere.
func ParseExportTo(s, own string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		switch item = strings.TrimSpace(item); {
		case item == "":
		case item == Wildcard:
			return nil, nil
		case item == ".":
			out = append(out, own)
		case isDNSLabel(item):
			out = append(out, item)
		default:
			return nil, fmt.Errorf("export-to %q: want *, . (own namespace) or namespace names separated by commas", item)
		}
	}
	if out == nil {
		out = []string{own}
	}
	return out, nil
}

// dnsLabel is a Kubernetes namespace or Service name (RFC 1123 label).
// The model checks it itself so that the proxy, which parses egress
// rules, does not link Kubernetes libraries.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

func nameOrWildcard(s string) bool {
	return s == Wildcard || isDNSLabel(s)
}

// VisibleFrom reports whether a proxy in namespace ns may see the service:
// it is in ns, or exported to it.
func (s *Service) VisibleFrom(ns string) bool {
	if s.ExportTo == nil || s.Key.Namespace == ns {
		return true
	}
	for _, n := range s.ExportTo {
		if n == ns {
			return true
		}
	}
	return false
}

// ParseMTLSMode reads an mTLS mode annotation or flag value.
func ParseMTLSMode(v string) (MTLSMode, error) {
	switch m := MTLSMode(v); m {
	case MTLSStrict, MTLSPermissive:
		return m, nil
	}
	return "", fmt.Errorf("mTLS mode %q: use STRICT or PERMISSIVE", v)
}
