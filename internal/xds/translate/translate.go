package translate

import (
	"net/netip"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Proxy is the proxy resources are made for.
type Proxy struct {
	// Workload is the proxy's own workload; nil for a proxy with no
	// inbound traffic.
	Workload *model.Workload
	// Gateway: the proxy is an east-west gateway, not a sidecar, listening
	// on GatewayIP ("" for every address).
	Gateway   bool
	GatewayIP string
	// Explicit, when set, is a sidecar without interception.
	Explicit *Explicit
}

// Explicit is how a proxy without interception (nodemeta.InterceptionNone)
// meets its workload's traffic: it takes inbound traffic on IP at each
// application port and delivers it to App, and listens for the
// application's calls at each upstream's local address.
type Explicit struct {
	IP, App   netip.Addr
	Upstreams []nodemeta.Upstream
}

// Resources are one proxy's xDS resources, each list sorted by name.
type Resources struct {
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
}

// Translate builds the resources of proxy p from mesh m. m must be valid
// and sorted (model.Mesh.Validate and Sort).
func Translate(m *model.Mesh, p Proxy) *Resources {
	if p.Gateway {
		return Gateway(m, p.GatewayIP)
	}
	scope := ScopeOf(p.Workload)
	scope.Explicit = p.Explicit != nil
	return Merge(Outbound(m, scope), Inbound(m, p.Workload, p.Explicit))
}

// Outbound builds what a proxy needs to call the part of the mesh its
// scope reaches. It is the same for every proxy with that scope, so a
// server builds it once per scope and shares it.
func Outbound(m *model.Mesh, scope Scope) *Resources {
	r := &Resources{}
	outbound(m, scope, r)
	r.sort()
	return r
}

// Inbound builds what is proper to one proxy: what it needs to receive
// traffic for its workload w (nil for none), and, without interception
// (x), the listeners its application calls services at.
func Inbound(m *model.Mesh, w *model.Workload, x *Explicit) *Resources {
	r := &Resources{}
	if w != nil {
		inbound(m, w, x, r)
	}
	if x != nil {
		upstreams(m, w, x, r)
	}
	r.sort()
	return r
}

// Merge returns the resources of a and b together, sorted. The messages
// are shared, not copied: resources must not be modified after translation.
func Merge(a, b *Resources) *Resources {
	r := &Resources{
		Clusters:  append(append(a.Clusters[:0:0], a.Clusters...), b.Clusters...),
		Endpoints: append(append(a.Endpoints[:0:0], a.Endpoints...), b.Endpoints...),
		Listeners: append(append(a.Listeners[:0:0], a.Listeners...), b.Listeners...),
		Routes:    append(append(a.Routes[:0:0], a.Routes...), b.Routes...),
	}
	r.sort()
	return r
}

func (r *Resources) sort() {
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].GetName() < r.Clusters[j].GetName() })
	sort.Slice(r.Endpoints, func(i, j int) bool { return r.Endpoints[i].GetClusterName() < r.Endpoints[j].GetClusterName() })
	sort.Slice(r.Listeners, func(i, j int) bool { return r.Listeners[i].GetName() < r.Listeners[j].GetName() })
	sort.Slice(r.Routes, func(i, j int) bool { return r.Routes[i].GetName() < r.Routes[j].GetName() })
}

// outbound makes what the proxy needs to call the services it reaches: a
// cluster and endpoints per service port, a catch-all listener for
// intercepted connections, a virtual listener per port, and per HTTP port
// a route configuration with a virtual host per service. Services it
// reaches only through routes get clusters and endpoints alone.
func outbound(m *model.Mesh, scope Scope, r *Resources) {
	proxyNS := scope.Namespace
	direct, backends := scope.reachable(m)
	r.Clusters = append(r.Clusters, passthroughCluster())
	if !scope.Explicit {
		r.Listeners = append(r.Listeners, virtualOutboundListener())
	}
	// Route configurations per port, and the ports where some service
	// declares HTTP: only those get a catch-all HTTP listener, so that
	// opaque TCP to an unknown-protocol port is never forced through HTTP.
	httpPorts := map[uint32][]*routev3.VirtualHost{}
	declared := map[uint32]bool{}
	for _, svc := range m.Services {
		if !direct[svc.Key] && !backends[svc.Key] {
			continue
		}
		for _, port := range svc.Ports {
			traffic := effectiveTraffic(m, svc, port)
			name := ClusterName(svc.Key, port.Port)
			r.Clusters = append(r.Clusters, outboundCluster(m, svc, port, traffic))
			r.Endpoints = append(r.Endpoints, loadAssignment(m, svc, port, name))
			switch {
			case !direct[svc.Key]:
				// Reached through a route only: no listener or host of its own.
			case port.Protocol.IsHTTP():
				httpPorts[port.Port] = append(httpPorts[port.Port], virtualHost(m, proxyNS, svc, port, name, traffic))
				declared[port.Port] = true
			case port.Protocol == model.ProtocolUnknown:
				httpPorts[port.Port] = append(httpPorts[port.Port], virtualHost(m, proxyNS, svc, port, name, traffic))
				r.Listeners = append(r.Listeners, tcpServiceListeners(svc, port, name, true)...)
			default:
				r.Listeners = append(r.Listeners, tcpServiceListeners(svc, port, name, false)...)
			}
		}
	}
	for port, vhosts := range httpPorts {
		if declared[port] {
			r.Listeners = append(r.Listeners, httpPortListener(port))
		}
		r.Routes = append(r.Routes, &routev3.RouteConfiguration{Name: RouteName(port), VirtualHosts: vhosts})
	}
}

// inbound makes what the proxy needs to receive the mesh's traffic for its
// workload: one listener for intercepted connections (or, without
// interception, one per port on the workload's address) with a filter
// chain per port (mTLS, plus plaintext in PERMISSIVE mode) and a cluster
// per port that delivers to the application.
func inbound(m *model.Mesh, w *model.Workload, x *Explicit, r *Resources) {
	mode := w.MTLS
	if mode == "" {
		mode = m.Settings.MTLSFor(w.Key.Namespace)
	}
	app := "127.0.0.1"
	if x != nil {
		app = x.App.String()
	}
	authz := authorizationFor(m, w)
	var chains []*listenerv3.FilterChain
	for _, port := range w.Ports {
		name := InboundClusterName(port.Port)
		r.Clusters = append(r.Clusters, inboundCluster(port, name, inboundService(m, w, port.Port), m.Settings.ClusterName, app))
		if port.Protocol.IsHTTP() || port.Protocol == model.ProtocolUnknown {
			r.Routes = append(r.Routes, inboundRoutes(port))
		}
		portChains := inboundChains(port, name, mode, authz, clientTrustDomain(m, w, port.Port))
		if x != nil {
			r.Listeners = append(r.Listeners, boundInboundListener(x.IP, port.Port, portChains))
			continue
		}
		chains = append(chains, portChains...)
	}
	if x == nil {
		r.Listeners = append(r.Listeners, virtualInboundListener(chains))
	}
}
