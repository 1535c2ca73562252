package translate

import (
	"net"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// Gateway builds an east-west gateway's resources (ADR 0005): one
// listener on bindIP and the Mesh's gateway port (EastWestPort by
// default; "" binds every address) with a filter
// chain per exported service port,
// chosen by the TLS server name and proxying the still-encrypted
// connection to the service's local sidecars. A connection naming anything
// else matches no chain and is closed: only exported services are
// reachable from peers. With Settings.FederationAddress the gateway also
// carries peers' operators to the federation API, by its own server name.
func Gateway(m *model.Mesh, bindIP string) *Resources {
	if bindIP == "" {
		bindIP = "0.0.0.0"
	}
	r := &Resources{}
	var chains []*listenerv3.FilterChain
	for _, svc := range m.Services {
		if !svc.Exported {
			continue
		}
		for _, port := range svc.Ports {
			name := GatewayClusterName(svc.Key, port.Port)
			cla := gatewayEndpoints(m, svc, port, name)
			if len(cla.GetEndpoints()) == 0 {
				continue // nothing here to reach, no chain to match
			}
			r.Clusters = append(r.Clusters, &clusterv3.Cluster{
				Name:                 name,
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
				EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: build.ADS()},
				LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
				ConnectTimeout:       build.Duration(m.Settings.Traffic.ConnectTimeout),
				OutlierDetection:     outlierDetection(m.Settings.Traffic.OutlierDetection),
				Metadata:             serviceMetadata(svc, m.Settings.ClusterName),
			})
			r.Endpoints = append(r.Endpoints, cla)
			chains = append(chains, &listenerv3.FilterChain{
				Name: ServerName(svc.Key, port.Port),
				FilterChainMatch: &listenerv3.FilterChainMatch{
					ServerNames:       []string{ServerName(svc.Key, port.Port)},
					TransportProtocol: "tls",
				},
				Filters: []*listenerv3.Filter{build.TCPProxy("gateway", name)},
			})
		}
	}
	if fa := m.Settings.FederationAddress; fa != "" {
		if host, port, err := net.SplitHostPort(fa); err == nil {
			if p, err := strconv.ParseUint(port, 10, 16); err == nil {
				r.Clusters = append(r.Clusters, &clusterv3.Cluster{
					Name:                 FederationCluster,
					ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
					LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
					ConnectTimeout:       build.Duration(m.Settings.Traffic.ConnectTimeout),
					LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: FederationCluster, Endpoints: []*endpointv3.LocalityLbEndpoints{
						build.Endpoints(0, "", build.Address(host, uint32(p))),
					}},
				})
				chains = append(chains, &listenerv3.FilterChain{
					Name:             FederationServerName(m.Settings.TrustDomain),
					FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{FederationServerName(m.Settings.TrustDomain)}, TransportProtocol: "tls"},
					Filters:          []*listenerv3.Filter{build.TCPProxy("federation", FederationCluster)},
				})
			}
		}
	}
	r.Listeners = append(r.Listeners, &listenerv3.Listener{
		Name:             EastWestListener,
		Address:          build.Address(bindIP, eastWestPort(m)),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains:     chains,
	})
	r.sort()
	return r
}

// gatewayEndpoints are the service's local endpoints that have a sidecar
// to terminate the passed-through mTLS. Remote endpoints are left out: a
// gateway never forwards to another cluster.
func gatewayEndpoints(m *model.Mesh, svc *model.Service, port model.ServicePort, name string) *endpointv3.ClusterLoadAssignment {
	local := *svc
	local.Endpoints = nil
	for _, ep := range svc.Endpoints {
		if ep.Identity != "" && (ep.Locality.Cluster == "" || ep.Locality.Cluster == m.Settings.ClusterName) {
			local.Endpoints = append(local.Endpoints, ep)
		}
	}
	return loadAssignment(m, &local, port, name)
}

// eastWestPort is the Mesh's gateway port, EastWestPort unless set.
func eastWestPort(m *model.Mesh) uint32 {
	if m.Settings.EastWestPort != 0 {
		return m.Settings.EastWestPort
	}
	return EastWestPort
}
