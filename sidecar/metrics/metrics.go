// Package metrics publishes a proxy's Prometheus metrics, named by
// internal/telemetry. It observes the HTTP engine, TCP proxying, the
// upstream clusters and the xDS client.
package metrics

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/plexus-mesh/plexus/internal/telemetry"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/httpproxy"
	"github.com/plexus-mesh/plexus/sidecar/listener"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// Workload identifies the proxy's own workload in metric labels.
type Workload struct {
	Name, Namespace, Cluster string
}

// destinationClusterLabel is destination_cluster's place in the edge
// labels (telemetry's edge order).
const destinationClusterLabel = 6

// unknown labels a peer the proxy cannot identify.
const unknown = "unknown"

// Metrics holds a proxy's collectors.
type Metrics struct {
	Registry *prometheus.Registry
	self     Workload
	// trustDomain is the proxy's own, from its certificate: an inbound
	// caller from it is in the proxy's cluster.
	trustDomain atomic.Pointer[string]
	// peerClusters names the cluster of each federated trust domain.
	peerClusters atomic.Pointer[map[string]string]

	requests, retries, timeouts, ejections, overflows, localReplies *prometheus.CounterVec
	tcpOpened, tcpClosed, tcpSent, tcpReceived, configUpdates       *prometheus.CounterVec
	certRenewals, inbound                                           *prometheus.CounterVec
	duration                                                        *prometheus.HistogramVec
	ejected, xdsConnected, certExpiry                               *prometheus.GaugeVec
}

var (
	_ httpproxy.Observer   = (*Metrics)(nil)
	_ listener.TCPObserver = (*Metrics)(nil)
	_ upstream.Observer    = (*Metrics)(nil)
)

// New creates the collectors in a fresh registry, with Go runtime and
// process metrics alongside.
func New(self Workload) *Metrics {
	m := &Metrics{
		Registry:      prometheus.NewRegistry(),
		self:          self,
		requests:      telemetry.RequestsTotal.CounterVec(),
		duration:      telemetry.RequestDuration.HistogramVec(),
		retries:       telemetry.UpstreamRetries.CounterVec(),
		timeouts:      telemetry.UpstreamTimeouts.CounterVec(),
		ejections:     telemetry.OutlierEjections.CounterVec(),
		ejected:       telemetry.OutlierEjectedEndpoints.GaugeVec(),
		overflows:     telemetry.CircuitBreakerOverflows.CounterVec(),
		localReplies:  telemetry.LocalReplies.CounterVec(),
		tcpOpened:     telemetry.TCPConnectionsOpened.CounterVec(),
		tcpClosed:     telemetry.TCPConnectionsClosed.CounterVec(),
		tcpSent:       telemetry.TCPSentBytes.CounterVec(),
		tcpReceived:   telemetry.TCPReceivedBytes.CounterVec(),
		configUpdates: telemetry.ProxyConfigUpdates.CounterVec(),
		xdsConnected:  telemetry.ProxyXDSConnected.GaugeVec(),
		certRenewals:  telemetry.ProxyCertificateRenewals.CounterVec(),
		inbound:       telemetry.InboundConnections.CounterVec(),
		certExpiry:    telemetry.ProxyCertificateExpiry.GaugeVec(),
	}
	m.Registry.MustRegister(
		m.requests, m.duration, m.retries, m.timeouts, m.ejections, m.ejected, m.overflows,
		m.localReplies, m.tcpOpened, m.tcpClosed, m.tcpSent, m.tcpReceived, m.configUpdates, m.xdsConnected,
		m.certRenewals, m.certExpiry, m.inbound,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.xdsConnected.WithLabelValues().Set(0)
	m.certExpiry.WithLabelValues().Set(0)
	return m
}

// CertificateFetched implements identity.ClientObserver.
func (m *Metrics) CertificateFetched(err error, notAfter time.Time) {
	if err != nil {
		m.certRenewals.WithLabelValues("failure").Inc()
		return
	}
	m.certRenewals.WithLabelValues("success").Inc()
	m.certExpiry.WithLabelValues().Set(float64(notAfter.Unix()))
}

// SetTrustDomain records the proxy's trust domain, from its certificate.
func (m *Metrics) SetTrustDomain(td string) { m.trustDomain.Store(&td) }

// SetPeerClusters records the cluster of each federated trust domain, so
// that inbound callers from a peer are labelled with its cluster.
func (m *Metrics) SetPeerClusters(clusters map[string]string) { m.peerClusters.Store(&clusters) }

// edge returns the edge labels of traffic in dir to or from cluster c.
func (m *Metrics) edge(dir config.Direction, c *config.Cluster) []string {
	return m.edgeFrom(dir, c, "")
}

// edgeFrom is edge with the caller's SPIFFE ID, when known: an inbound
// caller's namespace and service account (as the workload) come from
// spiffe://<trust domain>/ns/<namespace>/sa/<service account>, and a
// caller of the proxy's own trust domain is in its cluster (each cluster
// has its own trust domain), and one of a federated peer's trust domain
// is in that peer's cluster.
func (m *Metrics) edgeFrom(dir config.Direction, c *config.Cluster, peer string) []string {
	dst := config.Service{Name: unknown, Namespace: unknown, Cluster: unknown}
	if c != nil && c.Service.Name != "" {
		dst = c.Service
	}
	if dir == config.Inbound {
		ns, sa, cluster := unknown, unknown, unknown
		if parts := strings.Split(peer, "/"); len(parts) == 7 && parts[3] == "ns" && parts[5] == "sa" {
			ns, sa = parts[4], parts[6]
			if td := m.trustDomain.Load(); td != nil && parts[2] == *td {
				cluster = m.self.Cluster
			} else if peers := m.peerClusters.Load(); peers != nil && (*peers)[parts[2]] != "" {
				cluster = (*peers)[parts[2]]
			}
		}
		return []string{dir.String(), sa, ns, cluster, dst.Name, dst.Namespace, dst.Cluster}
	}
	return []string{dir.String(), m.self.Name, m.self.Namespace, m.self.Cluster, dst.Name, dst.Namespace, dst.Cluster}
}

func destination(c *config.Cluster) []string {
	if c == nil || c.Service.Name == "" {
		return []string{unknown, unknown, unknown}
	}
	return []string{c.Service.Name, c.Service.Namespace, c.Service.Cluster}
}

// Request counts a finished HTTP or gRPC request. An outbound request
// counts toward the cluster of the host that answered it: across clusters
// one service has endpoints in several.
func (m *Metrics) Request(e httpproxy.RequestEvent) {
	labels := append(m.edgeFrom(e.Direction, e.Cluster, e.Peer), strconv.Itoa(e.Status), e.GRPCStatus)
	if e.Direction == config.Outbound && e.DestinationCluster != "" {
		labels[destinationClusterLabel] = e.DestinationCluster
	}
	m.requests.WithLabelValues(labels...).Inc()
	m.duration.WithLabelValues(labels...).Observe(e.Duration.Seconds())
}

// LocalReply counts a response the proxy made itself.
func (m *Metrics) LocalReply(dir config.Direction, status int, reason string) {
	m.localReplies.WithLabelValues(dir.String(), strconv.Itoa(status), reason).Inc()
}

// Retry counts a retry.
func (m *Metrics) Retry(c *config.Cluster, reason string) {
	m.retries.WithLabelValues(append(destination(c), reason)...).Inc()
}

// Timeout counts a request or attempt timeout.
func (m *Metrics) Timeout(c *config.Cluster, reason string) {
	m.timeouts.WithLabelValues(append(destination(c), reason)...).Inc()
}

// Ejected counts an outlier ejection.
func (m *Metrics) Ejected(c *config.Cluster, _ *upstream.Host, reason string) {
	m.ejections.WithLabelValues(append(destination(c), reason)...).Inc()
}

// EjectedHosts sets how many hosts of c are ejected.
func (m *Metrics) EjectedHosts(c *config.Cluster, n int) {
	m.ejected.WithLabelValues(destination(c)...).Set(float64(n))
}

// Overflow counts a circuit breaker overflow.
func (m *Metrics) Overflow(c *config.Cluster, limit string) {
	m.overflows.WithLabelValues(append(destination(c), limit)...).Inc()
}

// Accepted counts a connection an inbound listener accepted, by whether it
// was mutual TLS.
func (m *Metrics) Accepted(mtls bool) {
	m.inbound.WithLabelValues(strconv.FormatBool(mtls)).Inc()
}

// Opened counts an opaque TCP connection.
func (m *Metrics) Opened(dir config.Direction, c *config.Cluster) {
	m.tcpOpened.WithLabelValues(m.edge(dir, c)...).Inc()
}

// Closed counts a closed TCP connection and its bytes.
func (m *Metrics) Closed(dir config.Direction, c *config.Cluster, sent, received int64) {
	labels := m.edge(dir, c)
	m.tcpClosed.WithLabelValues(labels...).Inc()
	m.tcpSent.WithLabelValues(labels...).Add(float64(sent))
	m.tcpReceived.WithLabelValues(labels...).Add(float64(received))
}

// Failed counts a TCP connection the proxy closed because it found no
// upstream.
func (m *Metrics) Failed(dir config.Direction, _ *config.Cluster, reason string) {
	m.localReplies.WithLabelValues(dir.String(), "0", reason).Inc()
}

// ConfigUpdate counts an xDS update and whether it was accepted.
func (m *Metrics) ConfigUpdate(typeURL string, accepted bool) {
	result := "ack"
	if !accepted {
		result = "nack"
	}
	m.configUpdates.WithLabelValues(shortType(typeURL), result).Inc()
}

// XDSConnected records whether the proxy holds a stream to the control plane.
func (m *Metrics) XDSConnected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.xdsConnected.WithLabelValues().Set(v)
}

// shortType turns a type URL into a short label ("Cluster").
func shortType(typeURL string) string {
	for i := len(typeURL) - 1; i >= 0; i-- {
		if typeURL[i] == '.' {
			return typeURL[i+1:]
		}
	}
	return typeURL
}
