package config

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// HTTPProtocolOptionsKey is the typed_extension_protocol_options key that
// carries a cluster's upstream HTTP settings.
const HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// ServiceMetadataKey is the filter_metadata namespace holding a cluster's
// service name, namespace and cluster for metric labels.
const ServiceMetadataKey = "plexus"

// CompileCluster compiles an xDS Cluster.
func CompileCluster(c *clusterv3.Cluster) (*Cluster, error) {
	if c.GetName() == "" {
		return nil, errors.New("cluster without a name")
	}
	out, err := compileCluster(c)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
	}
	return out, nil
}

func compileCluster(c *clusterv3.Cluster) (*Cluster, error) {
	out := &Cluster{Name: c.GetName()}
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		out.EDSName = c.GetEdsClusterConfig().GetServiceName()
		if out.EDSName == "" {
			out.EDSName = c.GetName()
		}
	case clusterv3.Cluster_STATIC:
		if c.GetLoadAssignment() == nil {
			return nil, errors.New("a STATIC cluster needs load_assignment")
		}
		eps, err := CompileEndpoints(c.GetLoadAssignment())
		if err != nil {
			return nil, err
		}
		out.Static = eps
	case clusterv3.Cluster_ORIGINAL_DST:
		out.OriginalDst = true
		if p := c.GetLbPolicy(); p != clusterv3.Cluster_CLUSTER_PROVIDED && p != clusterv3.Cluster_ROUND_ROBIN {
			return nil, fmt.Errorf("an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED, not %s", p)
		}
	default:
		return nil, fmt.Errorf("discovery type %s is not supported: use EDS, STATIC or ORIGINAL_DST", c.GetType())
	}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_CLUSTER_PROVIDED:
		// ORIGINAL_DST has one host per connection: nothing to balance.
		if !out.OriginalDst {
			return nil, errors.New("lb_policy CLUSTER_PROVIDED is only for ORIGINAL_DST clusters: use ROUND_ROBIN, LEAST_REQUEST or RANDOM")
		}
	case clusterv3.Cluster_ROUND_ROBIN:
		out.LB = RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		out.LB = LeastRequest
	case clusterv3.Cluster_RANDOM:
		out.LB = Random
	default:
		return nil, fmt.Errorf("lb_policy %s is not supported: use ROUND_ROBIN, LEAST_REQUEST or RANDOM", c.GetLbPolicy())
	}
	var err error
	if out.ConnectTimeout, err = durationOr(c.GetConnectTimeout(), DefaultConnectTimeout, "connect_timeout"); err != nil {
		return nil, err
	}
	if out.ConnectTimeout == 0 {
		return nil, errors.New("connect_timeout must be positive")
	}
	out.Limits = compileLimits(c.GetCircuitBreakers())
	if od := c.GetOutlierDetection(); od != nil {
		if out.OutlierDetection, err = compileOutlier(od); err != nil {
			return nil, fmt.Errorf("outlier_detection: %w", err)
		}
	}
	if ts := c.GetTransportSocket(); ts != nil {
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			return nil, fmt.Errorf("transport_socket %q: want an UpstreamTlsContext: %w", ts.GetName(), err)
		}
		if out.TLS, err = compileUpstreamTLS(ctx); err != nil {
			return nil, fmt.Errorf("transport_socket: %w", err)
		}
	}
	out.IdleTimeout = DefaultIdleTimeout
	if any, ok := c.GetTypedExtensionProtocolOptions()[HTTPProtocolOptionsKey]; ok {
		opts := &httpv3.HttpProtocolOptions{}
		if err := any.UnmarshalTo(opts); err != nil {
			return nil, fmt.Errorf("%s: %w", HTTPProtocolOptionsKey, err)
		}
		if out.IdleTimeout, err = durationOr(opts.GetCommonHttpProtocolOptions().GetIdleTimeout(), DefaultIdleTimeout, "common_http_protocol_options.idle_timeout"); err != nil {
			return nil, err
		}
		switch {
		case opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
			out.Protocol = HTTP2
		case opts.GetUseDownstreamProtocolConfig() != nil:
			out.Protocol = UseDownstream
		}
	}
	if md := c.GetMetadata().GetFilterMetadata()[ServiceMetadataKey]; md != nil {
		f := md.GetFields()
		out.Service = Service{
			Name:      f["service"].GetStringValue(),
			Namespace: f["namespace"].GetStringValue(),
			Cluster:   f["cluster"].GetStringValue(),
		}
	}
	return out, nil
}

func compileLimits(cb *clusterv3.CircuitBreakers) Limits {
	l := Limits{
		MaxConnections:     DefaultCircuitBreakerLimit,
		MaxPendingRequests: DefaultCircuitBreakerLimit,
		MaxRequests:        DefaultCircuitBreakerLimit,
		MaxRetries:         DefaultMaxRetries,
	}
	for _, t := range cb.GetThresholds() {
		if t.GetPriority() != 0 { // only the default priority is used
			continue
		}
		l.MaxConnections = u32Or(t.GetMaxConnections(), l.MaxConnections)
		l.MaxPendingRequests = u32Or(t.GetMaxPendingRequests(), l.MaxPendingRequests)
		l.MaxRequests = u32Or(t.GetMaxRequests(), l.MaxRequests)
		l.MaxRetries = u32Or(t.GetMaxRetries(), l.MaxRetries)
		if rb := t.GetRetryBudget(); rb != nil {
			l.RetryBudgetPercent = 20
			if p := rb.GetBudgetPercent(); p != nil {
				l.RetryBudgetPercent = p.GetValue()
			}
			l.MinRetryConcurrency = u32Or(rb.GetMinRetryConcurrency(), 3)
		}
	}
	return l
}

func compileOutlier(od *clusterv3.OutlierDetection) (*OutlierDetection, error) {
	out := &OutlierDetection{
		Consecutive5xx:     u32Or(od.GetConsecutive_5Xx(), 5),
		MaxEjectionPercent: u32Or(od.GetMaxEjectionPercent(), 10),
	}
	// Envoy semantics: consecutive 5xx is enforced unless its enforcing
	// percentage is 0; consecutive gateway errors only when it is set.
	if u32Or(od.GetEnforcingConsecutive_5Xx(), 100) == 0 {
		out.Consecutive5xx = 0
	}
	if u32Or(od.GetEnforcingConsecutiveGatewayFailure(), 0) > 0 {
		out.ConsecutiveGatewayErrors = u32Or(od.GetConsecutiveGatewayFailure(), 5)
	}
	if out.MaxEjectionPercent > 100 {
		return nil, fmt.Errorf("max_ejection_percent %d is over 100", out.MaxEjectionPercent)
	}
	var err error
	if out.Interval, err = durationOr(od.GetInterval(), DefaultOutlierInterval, "interval"); err != nil {
		return nil, err
	}
	if out.BaseEjectionTime, err = durationOr(od.GetBaseEjectionTime(), DefaultBaseEjectionTime, "base_ejection_time"); err != nil {
		return nil, err
	}
	if out.MaxEjectionTime, err = durationOr(od.GetMaxEjectionTime(), DefaultMaxEjectionTime, "max_ejection_time"); err != nil {
		return nil, err
	}
	if out.Interval <= 0 || out.BaseEjectionTime <= 0 {
		return nil, errors.New("interval and base_ejection_time must be positive")
	}
	return out, nil
}

func compileUpstreamTLS(ctx *tlsv3.UpstreamTlsContext) (*UpstreamTLS, error) {
	cert, validation, err := commonTLSSecrets(ctx.GetCommonTlsContext())
	if err != nil {
		return nil, err
	}
	if validation == "" {
		return nil, errors.New("upstream TLS needs a validation context: a proxy never trusts a peer it cannot verify")
	}
	out := &UpstreamTLS{
		CertificateSecret: cert,
		ValidationSecret:  validation,
		SNI:               ctx.GetSni(),
		ALPN:              ctx.GetCommonTlsContext().GetAlpnProtocols(),
	}
	for _, san := range ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
		if san.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
			return nil, fmt.Errorf("SAN matcher type %s is not supported: use URI with a SPIFFE ID", san.GetSanType())
		}
		exact, ok := san.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Exact)
		if !ok {
			return nil, errors.New("SAN matchers must be exact SPIFFE IDs")
		}
		out.SPIFFEIDs = append(out.SPIFFEIDs, exact.Exact)
	}
	return out, nil
}
