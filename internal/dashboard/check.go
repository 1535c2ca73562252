package dashboard

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
)

// Check results.
const (
	CheckOK      = "ok"
	CheckWarning = "warning"
	CheckError   = "error"
)

// Check is one finding of plexctl check: what is wrong and how to fix it.
type Check struct {
	// Name says what was checked, such as "routes" or "peer west".
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// BuildChecks looks for the misconfigurations users most often meet, in s
// and in the configurations proxies refused. Each area checked that has
// no problem gives one "ok" finding, so the list shows what was looked
// at.
func BuildChecks(s Snapshot, nacks []NACK) []Check {
	var out []Check
	area := func(name string, found []Check) {
		if len(found) == 0 {
			found = []Check{{Name: name, Status: CheckOK, Message: "no problem found"}}
		}
		out = append(out, found...)
	}
	m := s.Mesh
	if m == nil || m.Settings.ClusterName == "" {
		return []Check{{Name: "mesh", Status: CheckError, Message: "the control plane has no Mesh",
			Fix: "create a Mesh (kubectl apply -f config/samples/mesh.yaml, or a mesh.yaml in the --local directory)"}}
	}
	area("services", serviceChecks(m))
	area("routes", routeChecks(m))
	area("policies", policyChecks(m))
	area("federation", federationChecks(s))
	area("proxies", proxyChecks(s, nacks))
	return out
}

func serviceChecks(m *model.Mesh) []Check {
	var out []Check
	for _, svc := range m.Services {
		var local, plain []model.Endpoint
		for _, ep := range svc.Endpoints {
			if cmp.Or(ep.Locality.Cluster, m.Settings.ClusterName) == m.Settings.ClusterName {
				local = append(local, ep)
				if ep.Identity == "" {
					plain = append(plain, ep)
				}
			}
		}
		imported := len(svc.Endpoints) > len(local)
		name := "service " + svc.Key.String()
		switch {
		case len(local) == 0 && !imported:
			out = append(out, Check{Name: name, Status: CheckWarning, Message: "no endpoints: calls to it fail",
				Fix: "check that its selector matches the labels of running workloads (in local mode, the --labels of their proxies)"})
		case len(plain) > 0 && m.Settings.MTLSFor(svc.Key.Namespace) == model.MTLSStrict:
			out = append(out, Check{Name: name, Status: CheckWarning,
				Message: fmt.Sprintf("%d endpoints have no sidecar (%s): mesh callers reach them in plaintext, and they take no mTLS", len(plain), plain[0].Address),
				Fix:     "inject the sidecar (label the namespace mesh.plexus.dev/inject=enabled and restart the pods)"})
		}
		if svc.Exported && len(svc.LocalIdentities(m.Settings.ClusterName)) == 0 {
			out = append(out, Check{Name: name, Status: CheckWarning, Message: "exported, but no endpoint here has a sidecar: peers do not import it",
				Fix: "run the service's pods with the sidecar; peers call exported services over mTLS only"})
		}
	}
	for _, p := range m.ImportProblems {
		out = append(out, Check{Name: "imports", Status: CheckWarning, Message: p})
	}
	return out
}

func routeChecks(m *model.Mesh) []Check {
	var out []Check
	for _, r := range m.Routes {
		for _, ps := range m.RouteStatus(r) {
			for _, c := range ps.Conditions {
				if !c.Status {
					out = append(out, Check{Name: "route " + r.Key.Namespace + "/" + strings.TrimPrefix(r.Key.Name, "grpc:"), Status: CheckError,
						Message: fmt.Sprintf("%s: %s", c.Type, c.Message), Fix: "fix the route's parentRefs or backendRefs"})
				}
			}
		}
	}
	return out
}

func policyChecks(m *model.Mesh) []Check {
	var out []Check
	for _, p := range m.TrafficPolicies {
		for _, ps := range m.TrafficPolicyStatus(p) {
			for _, c := range ps.Conditions {
				bad := !c.Status
				if c.Type == model.ConditionConflicted {
					bad = c.Status
				}
				if bad {
					out = append(out, Check{Name: "TrafficPolicy " + p.Key.String(), Status: CheckWarning, Message: fmt.Sprintf("%s: %s", c.Type, c.Message),
						Fix: "fix its targetRefs, or merge policies that set the same fields for one service"})
				}
			}
		}
	}
	for _, p := range m.AuthorizationPolicies {
		if c := m.AuthorizationPolicyStatus(p); !c.Status {
			out = append(out, Check{Name: "AuthorizationPolicy " + p.Key.String(), Status: CheckError, Message: c.Message,
				Fix: "fix its targetRefs or selector"})
		}
	}
	return out
}

func federationChecks(s Snapshot) []Check {
	var out []Check
	for _, p := range s.Peers {
		name := "peer " + p.Cluster
		switch {
		case !p.Connected:
			out = append(out, Check{Name: name, Status: CheckError, Message: "not connected: " + cmp.Or(p.Error, "no stream yet"),
				Fix: "check the MeshPeer's federationEndpoint is reachable, the peer declares this cluster in a MeshPeer, and each holds the other's trust bundle"})
		case p.Error != "":
			out = append(out, Check{Name: name, Status: CheckWarning, Message: p.Error})
		}
	}
	exports := slices.ContainsFunc(s.Mesh.Services, func(svc *model.Service) bool { return svc.Exported })
	gateway := false
	for _, meta := range s.Proxies {
		gateway = gateway || meta.Role == nodemeta.RoleGateway
	}
	if exports && !gateway && len(s.Proxies) > 0 {
		out = append(out, Check{Name: "east-west gateway", Status: CheckWarning, Message: "services are exported but no east-west gateway is connected: peers cannot reach them",
			Fix: "enable spec.federation.eastWestGateway in the Mesh (Kubernetes), or run plexus-proxy gateway (local mode)"})
	}
	return out
}

func proxyChecks(s Snapshot, nacks []NACK) []Check {
	var out []Check
	for _, n := range nacks {
		out = append(out, Check{Name: "proxy " + n.Proxy, Status: CheckError, Message: "refused its " + n.Type + " configuration: " + n.Message,
			Fix: "the proxy keeps its previous configuration; fix the object the message names"})
	}
	ids := make([]string, 0, len(s.Proxies))
	for id := range s.Proxies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	byAddress := map[string]string{}
	for _, id := range ids {
		meta := s.Proxies[id]
		egress, _ := model.ParseEgress(meta.Egress, meta.Namespace)
		scope := translate.Scope{Namespace: meta.Namespace, Egress: egress, Explicit: true}
		for _, u := range meta.Upstreams {
			if why := translate.UpstreamProblem(s.Mesh, scope, u); why != "" {
				out = append(out, Check{Name: "proxy " + id, Status: CheckError,
					Message: fmt.Sprintf("%s: its local address %s answers 503", why, u.Bind),
					Fix:     "fix the proxy's --upstreams or --egress, or create the Service"})
			}
		}
		// The control plane finds a proxy's workload by namespace and
		// address: two proxies there would take each other's.
		if meta.Role == "" && meta.IP != "" {
			key := meta.Namespace + "/" + meta.IP
			if other, dup := byAddress[key]; dup {
				out = append(out, Check{Name: "proxy " + id, Status: CheckError,
					Message: fmt.Sprintf("has the address %s in namespace %s, as proxy %s does: each gets the other's workload configuration", meta.IP, meta.Namespace, other),
					Fix:     "give each proxy an --ip of its own"})
			}
			byAddress[key] = id
		}
	}
	return out
}
