package translate

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// upstreams give a proxy without interception a listener per service its
// application calls, at the local address the application uses: HTTP
// ports route like the service's own name would (routes, splits,
// timeouts, retries), whatever Host the application sends; TCP ports go to
// the service's cluster; a port of unknown protocol is sniffed. An
// upstream that names no service this proxy may reach answers every
// request with 503 and the reason, rather than refusing connections
// without one.
func upstreams(m *model.Mesh, w *model.Workload, x *Explicit, r *Resources) {
	proxyNS := ""
	if w != nil {
		proxyNS = w.Key.Namespace
	}
	direct, _ := ScopeOf(w).reachable(m)
	for _, u := range x.Upstreams {
		name := ExplicitName(u)
		l := &listenerv3.Listener{
			Name:             name,
			Address:          build.Address(u.Bind.Addr().String(), uint32(u.Bind.Port())),
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		}
		key := model.NamespacedName{Namespace: u.Namespace, Name: u.Service}
		svc := m.Service(key)
		port, _ := servicePort(svc, u.Port)
		switch why := upstreamProblem(m, direct, proxyNS, u); {
		case why != "":
			why = "plexus: " + why + "\n"
			l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{build.HTTPManager("outbound", name)}}}
			r.Routes = append(r.Routes, &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
				Name: name, Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 503, Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: why}}}},
				}},
			}}})
		default:
			cluster := ClusterName(svc.Key, port.Port)
			if port.Protocol.IsHTTP() || port.Protocol == model.ProtocolUnknown {
				vh := virtualHost(m, proxyNS, svc, port, cluster, effectiveTraffic(m, svc, port))
				vh.Domains = []string{"*"}
				r.Routes = append(r.Routes, &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}})
			}
			if port.Protocol.IsHTTP() {
				l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{build.HTTPManager("outbound", name)}}}
			} else {
				serviceChains(l, cluster, name, port.Protocol == model.ProtocolUnknown)
			}
		}
		r.Listeners = append(r.Listeners, l)
	}
}

// UpstreamProblem says why a proxy of scope cannot call upstream u (the
// proxy's listener for it answers 503 with that), or "" when it can.
func UpstreamProblem(m *model.Mesh, scope Scope, u nodemeta.Upstream) string {
	direct, _ := scope.reachable(m)
	return upstreamProblem(m, direct, scope.Namespace, u)
}

func upstreamProblem(m *model.Mesh, direct map[model.NamespacedName]bool, proxyNS string, u nodemeta.Upstream) string {
	key := model.NamespacedName{Namespace: u.Namespace, Name: u.Service}
	svc := m.Service(key)
	switch _, ok := servicePort(svc, u.Port); {
	case svc == nil:
		return fmt.Sprintf("upstream %s:%d is not a service port this proxy can reach: there is no Service %s", key, u.Port, key)
	case !ok:
		return fmt.Sprintf("upstream %s:%d is not a service port this proxy can reach: %s has no port %d", key, u.Port, key, u.Port)
	case !direct[key]:
		return fmt.Sprintf("upstream %s:%d is not a service port this proxy can reach: it is not visible from namespace %q (the Service's exportTo, or the proxy's egress rules)", key, u.Port, proxyNS)
	}
	return ""
}

// ExplicitName names the listener and route configuration of an upstream.
func ExplicitName(u nodemeta.Upstream) string { return "explicit|" + u.Bind.String() }

func servicePort(svc *model.Service, port uint32) (model.ServicePort, bool) {
	if svc == nil {
		return model.ServicePort{}, false
	}
	for _, p := range svc.Ports {
		if p.Port == port {
			return p, true
		}
	}
	return model.ServicePort{}, false
}
