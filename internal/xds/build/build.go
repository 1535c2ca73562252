// Package build has constructors for the xDS resources Plexus generates, so
// the translator and the tests that drive proxies build them one way.
package build

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Any wraps a message. Marshalling a generated xDS message cannot fail, so
// an error is a programming error and panics. The encoding is
// deterministic (maps in key order), so the same configuration always
// gives the same bytes and the same xDS version.
func Any(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("build: wrapping %T: %v", m, err))
	}
	return a
}

// Address is a TCP socket address.
func Address(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// ADS is the config source that says "over the same ADS stream".
func ADS() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// Duration converts a time.Duration.
func Duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// HTTPManager is an http_connection_manager filter routing with RDS.
func HTTPManager(statPrefix, routeName string) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: ADS(), RouteConfigName: routeName,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Filter{Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(hcm)}}
}

// TCPProxy is a tcp_proxy filter to one cluster.
func TCPProxy(statPrefix, cluster string) *listenerv3.Filter {
	tp := &tcpv3.TcpProxy{StatPrefix: statPrefix, ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster}}
	return &listenerv3.Filter{Name: wellknown.TCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(tp)}}
}

// Listener listens on host:port with one filter chain holding filter.
func Listener(name, host string, port uint32, direction corev3.TrafficDirection, filter *listenerv3.Filter) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             name,
		Address:          Address(host, port),
		TrafficDirection: direction,
		FilterChains:     []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
	}
}

// ClusterOptions describe a cluster.
type ClusterOptions struct {
	Name           string
	LB             clusterv3.Cluster_LbPolicy
	ConnectTimeout time.Duration
	// HTTP2 makes the proxy speak HTTP/2 to the endpoints (h2c or h2).
	HTTP2 bool
	// Static endpoints ("host:port"); empty means EDS.
	Static           []*endpointv3.LocalityLbEndpoints
	CircuitBreakers  *clusterv3.CircuitBreakers
	OutlierDetection *clusterv3.OutlierDetection
	// Service, Namespace and MeshCluster label the cluster's metrics.
	Service, Namespace, MeshCluster string
}

// Cluster builds a cluster.
func Cluster(o ClusterOptions) *clusterv3.Cluster {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	c := &clusterv3.Cluster{
		Name:             o.Name,
		LbPolicy:         o.LB,
		ConnectTimeout:   Duration(o.ConnectTimeout),
		CircuitBreakers:  o.CircuitBreakers,
		OutlierDetection: o.OutlierDetection,
	}
	if len(o.Static) > 0 {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: o.Name, Endpoints: o.Static}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ADS()}
	}
	if o.HTTP2 {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": Any(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			}),
		}
	}
	if o.Service != "" {
		c.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"plexus": {Fields: map[string]*structpb.Value{
			"service":   structpb.NewStringValue(o.Service),
			"namespace": structpb.NewStringValue(o.Namespace),
			"cluster":   structpb.NewStringValue(o.MeshCluster),
		}}}}
	}
	return c
}

// Endpoints is one locality at a priority with the given "host:port"
// endpoints, all healthy.
func Endpoints(priority uint32, zone string, addrs ...*corev3.Address) *endpointv3.LocalityLbEndpoints {
	lle := &endpointv3.LocalityLbEndpoints{Priority: priority, Locality: &corev3.Locality{Zone: zone}}
	for _, a := range addrs {
		lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: a}},
			HealthStatus:   corev3.HealthStatus_HEALTHY,
		})
	}
	return lle
}

// LoadAssignment is the EDS resource of a cluster.
func LoadAssignment(cluster string, localities ...*endpointv3.LocalityLbEndpoints) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: localities}
}

// RouteToCluster is a catch-all route ("/" prefix) to one cluster.
func RouteToCluster(name, cluster string, timeout time.Duration) *routev3.Route {
	return &routev3.Route{
		Name:  name,
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			Timeout:          Duration(timeout),
		}},
	}
}

// VirtualHost serves domains with routes.
func VirtualHost(name string, domains []string, routes ...*routev3.Route) *routev3.VirtualHost {
	return &routev3.VirtualHost{Name: name, Domains: domains, Routes: routes}
}

// RouteConfig is an RDS resource.
func RouteConfig(name string, vhosts ...*routev3.VirtualHost) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: vhosts}
}

// UInt32 wraps a uint32.
func UInt32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
