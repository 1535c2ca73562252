package telemetry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is a Prometheus metric type.
type Kind string

// Metric kinds.
const (
	Counter   Kind = "counter"
	Gauge     Kind = "gauge"
	Histogram Kind = "histogram"
)

// Metric describes one metric: the contract between the component that
// publishes it and the rules, dashboards and UI that read it.
type Metric struct {
	Name   string
	Help   string
	Kind   Kind
	Labels []string
	// Buckets of a histogram, in seconds or bytes.
	Buckets []float64
}

// Label names. Cardinality is bounded on purpose: no pod names, no paths.
const (
	LabelDirection            = "direction" // "inbound" or "outbound"
	LabelSourceWorkload       = "source_workload"
	LabelSourceNamespace      = "source_namespace"
	LabelSourceCluster        = "source_cluster"
	LabelDestinationService   = "destination_service"
	LabelDestinationNamespace = "destination_namespace"
	LabelDestinationCluster   = "destination_cluster"
	LabelResponseCode         = "response_code"
	LabelGRPCStatus           = "grpc_status"
	LabelReason               = "reason"
	LabelLimit                = "limit"
	LabelType                 = "type"
	LabelResult               = "result"
	LabelMTLS                 = "mtls"
	LabelPeer                 = "peer"
)

// Directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// edge labels identify one source->destination pair as seen by a proxy.
var edge = []string{
	LabelDirection,
	LabelSourceWorkload, LabelSourceNamespace, LabelSourceCluster,
	LabelDestinationService, LabelDestinationNamespace, LabelDestinationCluster,
}

// destination labels identify an upstream service.
var destination = []string{LabelDestinationService, LabelDestinationNamespace, LabelDestinationCluster}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// latencyBuckets cover 0.5 ms to 60 s; the low end matters because a proxy
// hop adds well under a millisecond.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Proxy metrics.
var (
	RequestsTotal = Metric{
		Name: "plexus_requests_total", Kind: Counter,
		Help:   "HTTP and gRPC requests handled by a proxy, by edge and outcome.",
		Labels: with(edge, LabelResponseCode, LabelGRPCStatus),
	}
	RequestDuration = Metric{
		Name: "plexus_request_duration_seconds", Kind: Histogram,
		Help:    "Time from a request's first byte to its response's last byte, as seen by a proxy.",
		Labels:  with(edge, LabelResponseCode, LabelGRPCStatus),
		Buckets: latencyBuckets,
	}
	TCPConnectionsOpened = Metric{
		Name: "plexus_tcp_connections_opened_total", Kind: Counter,
		Help: "Opaque TCP connections opened, by edge.", Labels: edge,
	}
	TCPConnectionsClosed = Metric{
		Name: "plexus_tcp_connections_closed_total", Kind: Counter,
		Help: "Opaque TCP connections closed, by edge.", Labels: edge,
	}
	TCPSentBytes = Metric{
		Name: "plexus_tcp_sent_bytes_total", Kind: Counter,
		Help: "Bytes sent to the destination over opaque TCP, by edge.", Labels: edge,
	}
	TCPReceivedBytes = Metric{
		Name: "plexus_tcp_received_bytes_total", Kind: Counter,
		Help: "Bytes received from the destination over opaque TCP, by edge.", Labels: edge,
	}
	UpstreamRetries = Metric{
		Name: "plexus_upstream_retries_total", Kind: Counter,
		Help:   "Retries sent to an upstream service, by the condition that caused them.",
		Labels: with(destination, LabelReason),
	}
	UpstreamTimeouts = Metric{
		Name: "plexus_upstream_timeouts_total", Kind: Counter,
		Help:   "Requests or attempts to an upstream service that timed out (reason: request or per_try).",
		Labels: with(destination, LabelReason),
	}
	OutlierEjections = Metric{
		Name: "plexus_outlier_ejections_total", Kind: Counter,
		Help:   "Endpoints ejected from load balancing by outlier detection (reason: consecutive_5xx or consecutive_gateway_errors).",
		Labels: with(destination, LabelReason),
	}
	OutlierEjectedEndpoints = Metric{
		Name: "plexus_outlier_ejected_endpoints", Kind: Gauge,
		Help: "Endpoints of an upstream service currently ejected by outlier detection.", Labels: destination,
	}
	CircuitBreakerOverflows = Metric{
		Name: "plexus_circuit_breaker_overflows_total", Kind: Counter,
		Help:   "Requests refused at once because a circuit breaker limit was reached (limit: connections, pending, requests or retries).",
		Labels: with(destination, LabelLimit),
	}
	LocalReplies = Metric{
		Name: "plexus_local_replies_total", Kind: Counter,
		Help:   "Responses the proxy generated itself instead of the destination, by direction, response code and reason.",
		Labels: []string{LabelDirection, LabelResponseCode, LabelReason},
	}
	ProxyXDSConnected = Metric{
		Name: "plexus_proxy_xds_connected", Kind: Gauge,
		Help: "1 while the proxy holds an xDS stream to the control plane, else 0.",
	}
	ProxyConfigUpdates = Metric{
		Name: "plexus_proxy_config_updates_total", Kind: Counter,
		Help:   "xDS updates received by the proxy, by resource type and result (ack or nack).",
		Labels: []string{LabelType, LabelResult},
	}
	InboundConnections = Metric{
		Name: "plexus_inbound_connections_total", Kind: Counter,
		Help:   "Connections the proxy accepted for its workload, by whether they were mutual TLS (mtls=\"true\") or plaintext, which only PERMISSIVE mode accepts. No plaintext for a while means STRICT is safe.",
		Labels: []string{LabelMTLS},
	}
	ProxyCertificateExpiry = Metric{
		Name: "plexus_proxy_certificate_expiry_timestamp_seconds", Kind: Gauge,
		Help: "When the proxy's workload certificate expires, in Unix seconds; 0 before it has one. Alert when it comes near: renewal keeps failing.",
	}
	ProxyCertificateRenewals = Metric{
		Name: "plexus_proxy_certificate_renewals_total", Kind: Counter,
		Help:   "Attempts to obtain a workload certificate, by result (success or failure).",
		Labels: []string{LabelResult},
	}
)

// Control plane metrics.
var (
	XDSConnectedProxies = Metric{
		Name: "plexus_xds_connected_proxies", Kind: Gauge,
		Help: "Proxies holding an xDS stream to this control plane.",
	}
	XDSPushDuration = Metric{
		Name: "plexus_xds_push_duration_seconds", Kind: Histogram,
		Help:    "Time from a configuration change to its xDS snapshots being ready for every connected proxy.",
		Buckets: latencyBuckets,
	}
	XDSPushSize = Metric{
		Name: "plexus_xds_push_size_bytes", Kind: Histogram,
		Help:    "Size of the xDS resources of one proxy, per push.",
		Buckets: []float64{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20},
	}
	XDSStreams = Metric{
		Name: "plexus_xds_streams_total", Kind: Counter,
		Help:   "xDS streams proxies opened, by whether they came over mutual TLS and whether the control plane served or refused them.",
		Labels: []string{LabelMTLS, LabelResult},
	}
	XDSNACKs = Metric{
		Name: "plexus_xds_nacks_total", Kind: Counter,
		Help:   "xDS updates proxies refused, by resource type.",
		Labels: []string{LabelType},
	}
	CertificatesIssued = Metric{
		Name: "plexus_ca_certificates_issued_total", Kind: Counter,
		Help:   "Certificate requests the CA answered, by result (issued, unauthenticated, refused or error).",
		Labels: []string{LabelResult},
	}
	CARootExpiry = Metric{
		Name: "plexus_ca_root_expiry_timestamp_seconds", Kind: Gauge,
		Help: "When the CA's signing certificate expires, in Unix seconds.",
	}
)

// Federation metrics, published by the control plane per peer (MeshPeer
// name).
var (
	FederationPeerConnected = Metric{
		Name: "plexus_federation_peer_connected", Kind: Gauge,
		Help:   "1 while the federation stream to a peer is up, else 0. A disconnected peer's imports are kept until its staleness limit.",
		Labels: []string{LabelPeer},
	}
	FederationImportedServices = Metric{
		Name: "plexus_federation_imported_services", Kind: Gauge,
		Help:   "Services imported from a peer (0 once withdrawn).",
		Labels: []string{LabelPeer},
	}
	FederationLastSync = Metric{
		Name: "plexus_federation_peer_last_sync_timestamp_seconds", Kind: Gauge,
		Help:   "When a peer's export set last arrived, in Unix seconds; peers re-send it every 30s, so time() minus this is the sync lag.",
		Labels: []string{LabelPeer},
	}
	FederationBundleRefresh = Metric{
		Name: "plexus_federation_bundle_refresh_timestamp_seconds", Kind: Gauge,
		Help:   "When a peer's trust bundle was last fetched from its bundle endpoint, in Unix seconds; 0 before the first fetch.",
		Labels: []string{LabelPeer},
	}
)

// ControlPlane returns every metric the control plane publishes.
func ControlPlane() []Metric {
	return []Metric{XDSConnectedProxies, XDSPushDuration, XDSPushSize, XDSStreams, XDSNACKs, CertificatesIssued, CARootExpiry,
		FederationPeerConnected, FederationImportedServices, FederationLastSync, FederationBundleRefresh}
}

// Proxies returns every metric a proxy publishes.
func Proxies() []Metric {
	return []Metric{
		RequestsTotal, RequestDuration,
		TCPConnectionsOpened, TCPConnectionsClosed, TCPSentBytes, TCPReceivedBytes,
		UpstreamRetries, UpstreamTimeouts, OutlierEjections, OutlierEjectedEndpoints,
		CircuitBreakerOverflows, LocalReplies, ProxyXDSConnected, ProxyConfigUpdates,
		InboundConnections, ProxyCertificateExpiry, ProxyCertificateRenewals,
	}
}

// CounterVec creates the metric as a counter vector. It panics when the
// metric is not a counter, which is a programming error caught by tests.
func (m Metric) CounterVec() *prometheus.CounterVec {
	m.must(Counter)
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Name, Help: m.Help}, m.Labels)
}

// GaugeVec creates the metric as a gauge vector.
func (m Metric) GaugeVec() *prometheus.GaugeVec {
	m.must(Gauge)
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.Name, Help: m.Help}, m.Labels)
}

// HistogramVec creates the metric as a histogram vector.
func (m Metric) HistogramVec() *prometheus.HistogramVec {
	m.must(Histogram)
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: m.Buckets}, m.Labels)
}

func (m Metric) must(k Kind) {
	if m.Kind != k {
		panic(fmt.Sprintf("telemetry: %s is a %s, not a %s", m.Name, m.Kind, k))
	}
}
