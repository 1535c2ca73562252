package dashboard

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
)

// BuildService describes one service of topology t: its node, names,
// ports, endpoints in that cluster (for a peer's service, the gateways
// that stand for them), the routes attached to it, the policies that
// apply, and its edges. Nil when t has no such service.
func BuildService(s Snapshot, t Topology, key ServiceKey) *ServiceDetail {
	id := ServiceID(key.Cluster, key.Namespace, key.Name)
	i := slices.IndexFunc(t.Nodes, func(n Node) bool { return n.ID == id })
	if i < 0 {
		return nil
	}
	d := &ServiceDetail{Node: t.Nodes[i]}
	for _, e := range t.Edges {
		if e.Target == id {
			d.Callers = append(d.Callers, e)
		}
		if e.Source == id {
			d.Calls = append(d.Calls, e)
		}
	}
	m := s.Mesh
	if m == nil {
		return d
	}
	svc := m.Service(model.NamespacedName{Namespace: key.Namespace, Name: key.Name})
	if svc == nil {
		return d // known from signals only
	}
	local := key.Cluster == m.Settings.ClusterName
	for _, p := range svc.Ports {
		d.Ports = append(d.Ports, Port{Name: p.Name, Port: p.Port, Protocol: cmp.Or(string(p.Protocol), "sniffed")})
	}
	if local {
		d.Hostnames = svc.Hostnames
		for _, v := range svc.VIPs {
			d.Addresses = append(d.Addresses, v.String())
		}
	} else {
		for _, h := range svc.Hostnames {
			if strings.HasSuffix(h, "."+model.ClusterSetDomain) {
				d.Hostnames = append(d.Hostnames, h)
			}
		}
	}
	for _, ep := range svc.Endpoints {
		cluster := cmp.Or(ep.Locality.Cluster, m.Settings.ClusterName)
		if cluster != key.Cluster {
			continue
		}
		e := Endpoint{Address: ep.Address.String(), Cluster: cluster, Healthy: ep.Healthy, Identity: ep.Identity, Gateway: !local}
		if ep.Workload.Name != "" {
			e.Workload = ep.Workload.Name
		}
		d.Endpoints = append(d.Endpoints, e)
		for _, id := range append([]string{ep.Identity}, ep.Identities...) {
			if id != "" && !slices.Contains(d.Identities, id) {
				d.Identities = append(d.Identities, id)
			}
		}
	}
	if local {
		d.Routes = routesOf(m, svc.Key)
		d.Policies = policiesOf(m, svc)
	}
	return d
}

// routesOf summarises the routes attached to a service.
func routesOf(m *model.Mesh, key model.NamespacedName) []RouteSummary {
	var out []RouteSummary
	for _, r := range m.Routes {
		if !slices.ContainsFunc(r.Parents, func(p model.ParentRef) bool { return p.Service == key }) {
			continue
		}
		rs := RouteSummary{Kind: "HTTPRoute", Namespace: r.Key.Namespace, Name: strings.TrimPrefix(r.Key.Name, "grpc:")}
		if r.GRPC {
			rs.Kind = "GRPCRoute"
		}
		for _, rule := range r.Rules {
			rs.Rules = append(rs.Rules, ruleLine(rule))
		}
		out = append(out, rs)
	}
	return out
}

// ruleLine writes a rule in a line: "GET /api* → reviews:9080 90%,
// reviews-v2:9080 10% · timeout 2s · 3 retries".
func ruleLine(rule model.RouteRule) string {
	var matches []string
	for _, mt := range rule.Matches {
		var parts []string
		if mt.Method != "" {
			parts = append(parts, mt.Method)
		}
		if mt.Path != nil {
			p := mt.Path.Value
			switch mt.Path.Type {
			case model.PathPrefix:
				p += "*"
			case model.PathRegularExp:
				p = "~" + p
			}
			parts = append(parts, p)
		}
		for _, h := range mt.Headers {
			parts = append(parts, h.Name+"="+h.Value)
		}
		for _, q := range mt.Query {
			parts = append(parts, "?"+q.Name+"="+q.Value)
		}
		matches = append(matches, strings.Join(parts, " "))
	}
	line := "every request"
	if len(matches) > 0 {
		line = strings.Join(matches, " | ")
	}
	var total uint32
	for _, be := range rule.Backends {
		total += be.Weight
	}
	var backends []string
	for _, be := range rule.Backends {
		b := fmt.Sprintf("%s:%d", be.Service.Name, be.Port)
		if len(rule.Backends) > 1 && total > 0 {
			b += fmt.Sprintf(" %d%%", (be.Weight*100+total/2)/total)
		}
		backends = append(backends, b)
	}
	switch {
	case rule.Filters.Redirect != nil:
		line += " → redirect"
	case len(backends) > 0:
		line += " → " + strings.Join(backends, ", ")
	}
	if rule.Timeout > 0 {
		line += " · timeout " + rule.Timeout.String()
	}
	if rule.Retries != nil && rule.Retries.Attempts > 0 {
		line += fmt.Sprintf(" · %d retries", rule.Retries.Attempts)
	}
	return line
}

// policiesOf summarises the traffic policies targeting svc and the
// authorization policies protecting its workloads.
func policiesOf(m *model.Mesh, svc *model.Service) []PolicySummary {
	var out []PolicySummary
	for _, p := range m.TrafficPolicies {
		if slices.ContainsFunc(p.Targets, func(t model.PolicyTarget) bool { return t.Service == svc.Key && !t.Imported }) {
			out = append(out, PolicySummary{Kind: "TrafficPolicy", Namespace: p.Key.Namespace, Name: p.Key.Name, Summary: trafficSummary(p)})
		}
	}
	for _, p := range m.AuthorizationPolicies {
		if protects(m, p, svc) {
			out = append(out, PolicySummary{Kind: "AuthorizationPolicy", Namespace: p.Key.Namespace, Name: p.Key.Name,
				Summary: fmt.Sprintf("%s, %d rules", p.Action, len(p.Rules))})
		}
	}
	return out
}

// protects reports whether p selects any local workload of svc.
func protects(m *model.Mesh, p *model.AuthorizationPolicy, svc *model.Service) bool {
	for _, w := range m.Workloads {
		for _, ep := range svc.Endpoints {
			if ep.Workload == w.Key && translate.Selects(m, p, w) {
				return true
			}
		}
	}
	return false
}

func trafficSummary(p *model.TrafficPolicy) string {
	var parts []string
	if p.LoadBalancer != "" {
		parts = append(parts, "load balancer "+string(p.LoadBalancer))
	}
	if p.RequestTimeout > 0 {
		parts = append(parts, "timeout "+p.RequestTimeout.String())
	}
	if r := p.Retries; r != nil && r.Attempts > 0 {
		parts = append(parts, fmt.Sprintf("%d retries on %s", r.Attempts, strings.Join(r.On, ",")))
	}
	if cb := p.CircuitBreaker; cb != nil {
		parts = append(parts, fmt.Sprintf("circuit breaker (%d connections, %d pending, %d requests)", cb.MaxConnections, cb.MaxPendingRequests, cb.MaxRequests))
	}
	if od := p.OutlierDetection; od != nil {
		parts = append(parts, fmt.Sprintf("outlier detection (%d consecutive 5xx)", od.Consecutive5xx))
	}
	if len(parts) == 0 {
		return "no overrides"
	}
	return strings.Join(parts, " · ")
}
