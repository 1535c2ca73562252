package translate

import (
	"strings"

	"github.com/plexus-mesh/plexus/internal/model"
)

// Scope is what one proxy may reach: the services visible from its
// namespace (exported to it, or its own), narrowed by its workload's
// egress rules when it has any. Proxies with the same scope get the same
// outbound configuration.
type Scope struct {
	Namespace string
	Egress    []model.EgressRule
	// Explicit: the proxy has no interception, so no capture listener.
	Explicit bool
}

// ScopeOf is the scope of a workload's proxy; nil is a proxy outside any
// namespace, which sees only services exported everywhere.
func ScopeOf(w *model.Workload) Scope {
	if w == nil {
		return Scope{}
	}
	return Scope{Namespace: w.Key.Namespace, Egress: w.Egress}
}

// Key identifies the scope, for sharing outbound configuration.
func (s Scope) Key() string {
	parts := make([]string, 0, len(s.Egress)+2)
	parts = append(parts, s.Namespace)
	for _, r := range s.Egress {
		parts = append(parts, r.String())
	}
	if s.Explicit {
		parts = append(parts, "|explicit")
	}
	return strings.Join(parts, ",")
}

func (s Scope) reaches(svc *model.Service) bool {
	if !svc.VisibleFrom(s.Namespace) {
		return false
	}
	if len(s.Egress) == 0 {
		return true
	}
	for _, r := range s.Egress {
		if r.Matches(svc.Key) {
			return true
		}
	}
	return false
}

// reachable returns the services the proxy calls directly, and those it
// reaches only as backends of their routes: for those it needs clusters
// and endpoints, but no listeners of its own.
func (s Scope) reachable(m *model.Mesh) (direct, backends map[model.NamespacedName]bool) {
	direct, backends = map[model.NamespacedName]bool{}, map[model.NamespacedName]bool{}
	for _, svc := range m.Services {
		if s.reaches(svc) {
			direct[svc.Key] = true
		}
	}
	for _, r := range m.Routes {
		attached := false
		for _, p := range r.Parents {
			attached = attached || direct[p.Service]
		}
		if !attached {
			continue
		}
		for _, rule := range r.Rules {
			for _, b := range rule.Backends {
				if !direct[b.Service] {
					backends[b.Service] = true
				}
			}
		}
	}
	return direct, backends
}
