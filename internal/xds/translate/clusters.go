package translate

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

var lbPolicies = map[model.LoadBalancer]clusterv3.Cluster_LbPolicy{
	model.RoundRobin:   clusterv3.Cluster_ROUND_ROBIN,
	model.LeastRequest: clusterv3.Cluster_LEAST_REQUEST,
	model.Random:       clusterv3.Cluster_RANDOM,
}

// outboundCluster is the cluster of one service port. Between sidecars the
// connection is mTLS and, for HTTP, multiplexed HTTP/2; the peer must
// present one of the identities of the service's endpoints.
func outboundCluster(m *model.Mesh, svc *model.Service, port model.ServicePort, t model.Traffic) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 ClusterName(svc.Key, port.Port),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: build.ADS()},
		LbPolicy:             lbPolicies[t.LoadBalancer],
		ConnectTimeout:       build.Duration(t.ConnectTimeout),
		CircuitBreakers:      circuitBreakers(t),
		OutlierDetection:     outlierDetection(t.OutlierDetection),
		Metadata:             serviceMetadata(svc, m.Settings.ClusterName),
	}
	ids := identities(svc)
	if len(ids) > 0 {
		c.TransportSocket = upstreamMTLS(ids, ServerName(svc.Key, port.Port))
	}
	if port.Protocol.IsHTTP() || port.Protocol == model.ProtocolUnknown {
		h2 := len(ids) > 0 || port.Protocol == model.ProtocolHTTP2 || port.Protocol == model.ProtocolGRPC
		c.TypedExtensionProtocolOptions = httpOptions(h2, t)
	}
	return c
}

// identities are the distinct SPIFFE IDs of a service's endpoints. A
// service without sidecars (no identities) is called in plaintext.
func identities(svc *model.Service) []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range svc.Endpoints {
		for _, id := range append([]string{ep.Identity}, ep.Identities...) {
			if id != "" && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// upstreamMTLS originates mTLS to the service's sidecars, accepting ids,
// and names the service port in the server name so that an east-west
// gateway on the way can route the connection without terminating it.
func upstreamMTLS(ids []string, serverName string) *corev3.TransportSocket {
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, id := range ids {
		sans = append(sans, &tlsv3.SubjectAltNameMatcher{
			SanType: tlsv3.SubjectAltNameMatcher_URI,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}},
		})
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: serverName, CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: CertificateSecret, SdsConfig: build.ADS()}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: RootSecret, SdsConfig: build.ADS()},
		}},
	}}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}}
}

func httpOptions(h2 bool, t model.Traffic) map[string]*anypb.Any {
	opts := &httpv3.HttpProtocolOptions{}
	if h2 {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}}
	} else {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}}
	}
	if t.IdleTimeout > 0 {
		opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: build.Duration(t.IdleTimeout)}
	}
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": build.Any(opts)}
}

func circuitBreakers(t model.Traffic) *clusterv3.CircuitBreakers {
	cb, r := t.CircuitBreaker, t.Retries
	if cb == nil && (r == nil || r.BudgetPercent == 0) {
		return nil
	}
	th := &clusterv3.CircuitBreakers_Thresholds{}
	if cb != nil {
		th.MaxConnections = u32(cb.MaxConnections)
		th.MaxPendingRequests = u32(cb.MaxPendingRequests)
		th.MaxRequests = u32(cb.MaxRequests)
		th.MaxRetries = u32(cb.MaxRetries)
	}
	if r != nil && r.BudgetPercent > 0 {
		th.RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: r.BudgetPercent},
			MinRetryConcurrency: u32(r.MinRetriesPerSecond),
		}
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
}

func outlierDetection(o *model.OutlierDetection) *clusterv3.OutlierDetection {
	if o == nil {
		return nil
	}
	od := &clusterv3.OutlierDetection{
		Interval:           build.Duration(o.Interval),
		BaseEjectionTime:   build.Duration(o.BaseEjectionTime),
		MaxEjectionPercent: build.UInt32(o.MaxEjectionPercent),
	}
	if o.Consecutive5xx > 0 {
		od.Consecutive_5Xx = build.UInt32(o.Consecutive5xx)
	} else {
		od.EnforcingConsecutive_5Xx = build.UInt32(0)
	}
	if o.ConsecutiveGatewayErrors > 0 {
		od.ConsecutiveGatewayFailure = build.UInt32(o.ConsecutiveGatewayErrors)
		od.EnforcingConsecutiveGatewayFailure = build.UInt32(100)
	}
	return od
}

// loadAssignment groups a service port's endpoints by locality. Endpoints
// in this cluster come first (priority 0); other clusters' follow, so
// traffic fails over to them only when no local endpoint is healthy.
func loadAssignment(m *model.Mesh, svc *model.Service, port model.ServicePort, cluster string) *endpointv3.ClusterLoadAssignment {
	type key struct {
		remote        bool
		cluster, zone string
	}
	groups := map[key]*endpointv3.LocalityLbEndpoints{}
	for _, ep := range svc.Endpoints {
		p, ok := ep.Ports[port.Name]
		if !ok {
			continue
		}
		k := key{remote: ep.Locality.Cluster != "" && ep.Locality.Cluster != m.Settings.ClusterName, cluster: ep.Locality.Cluster, zone: ep.Locality.Zone}
		g := groups[k]
		if g == nil {
			g = &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Region: ep.Locality.Region, Zone: ep.Locality.Zone, SubZone: ep.Locality.Cluster}}
			groups[k] = g
		}
		health := corev3.HealthStatus_HEALTHY
		if !ep.Healthy {
			health = corev3.HealthStatus_UNHEALTHY
		}
		g.LbEndpoints = append(g.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: build.Address(ep.Address.String(), p)}},
			HealthStatus:   health,
		})
	}
	keys := make([]key, 0, len(groups))
	hasLocal := false
	for k := range groups {
		keys = append(keys, k)
		hasLocal = hasLocal || !k.remote
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.remote != b.remote {
			return !a.remote
		}
		return a.cluster+"/"+a.zone < b.cluster+"/"+b.zone
	})
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	for _, k := range keys {
		g := groups[k]
		if k.remote && hasLocal {
			g.Priority = 1 // priorities are contiguous from 0
		}
		cla.Endpoints = append(cla.Endpoints, g)
	}
	return cla
}

func passthroughCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 Passthrough,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       build.Duration(defaultConnectTimeout),
	}
}

// inboundCluster delivers to the application at app (localhost, or its
// own address beside a proxy without interception). svc, when known,
// labels the requests in the proxy's metrics.
func inboundCluster(port model.ServicePort, name string, svc *model.Service, cluster, app string) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		ConnectTimeout:       build.Duration(defaultConnectTimeout),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{
			build.Endpoints(0, "", build.Address(app, port.Port)),
		}},
	}
	if port.Protocol == model.ProtocolHTTP2 || port.Protocol == model.ProtocolGRPC {
		c.TypedExtensionProtocolOptions = httpOptions(true, model.Traffic{})
	}
	if svc != nil {
		c.Metadata = serviceMetadata(svc, cluster)
	}
	return c
}

// serviceMetadata names a cluster's service for the proxy's metrics.
func serviceMetadata(svc *model.Service, cluster string) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"plexus": {Fields: map[string]*structpb.Value{
		"service":   structpb.NewStringValue(svc.Key.Name),
		"namespace": structpb.NewStringValue(svc.Key.Namespace),
		"cluster":   structpb.NewStringValue(cluster),
	}}}}
}

// inboundService is the Service that requests to w's port count toward
// in its proxy's metrics: of the Services w serves on that port, the one
// with the shortest name (reviews rather than reviews-v1 or
// reviews-canary), ties broken by name, so the choice does not move while
// instances come and go. Only this cluster's endpoints count: a remote
// endpoint with the same address is another pod. Nil when no Service
// selects w there.
func inboundService(m *model.Mesh, w *model.Workload, port uint32) *model.Service {
	var best *model.Service
	for _, svc := range m.Services {
		if svc.Key.Namespace != w.Key.Namespace || !servesOn(svc, w, port, m.Settings.ClusterName) {
			continue
		}
		if best == nil || len(svc.Key.Name) < len(best.Key.Name) || (len(svc.Key.Name) == len(best.Key.Name) && svc.Key.Name < best.Key.Name) {
			best = svc
		}
	}
	return best
}

// servesOn reports whether w is a local endpoint of svc on port.
func servesOn(svc *model.Service, w *model.Workload, port uint32, cluster string) bool {
	for _, ep := range svc.Endpoints {
		if ep.Address != w.Address || (ep.Locality.Cluster != "" && ep.Locality.Cluster != cluster) {
			continue
		}
		for _, p := range ep.Ports {
			if p == port {
				return true
			}
		}
	}
	return false
}

func u32(v uint32) *wrapperspb.UInt32Value {
	if v == 0 {
		return nil
	}
	return build.UInt32(v)
}
