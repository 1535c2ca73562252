package monitoring

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Jobs that the scrape objects name their targets with; rules and
// dashboards select on them.
const (
	JobControlPlane = "plexus-control-plane"
	JobProxy        = "plexus-proxy"
)

// Ports and labels the scrape objects select on. The operator's metrics
// Service carries LabelComponent=ComponentOperator (app.kubernetes.io/name) and a port named
// PortMetrics; injected pods carry LabelProxy and name the proxy's status
// port PortProxyStatus.
const (
	LabelComponent    = "app.kubernetes.io/name"
	ComponentOperator = "plexus-operator"
	PortMetrics       = "metrics"
	LabelProxy        = "mesh.plexus.dev/proxy"
	PortProxyStatus   = "http-status"
	// LabelCluster is the target label every scraped series carries: the
	// cluster it came from, so dashboards and alerts work on a Prometheus
	// (or Thanos, or Mimir) that sees several clusters.
	LabelCluster = "cluster"
)

// Options are everything the monitoring objects depend on.
type Options struct {
	// Namespace of the operator: the ServiceMonitor, PodMonitor and
	// PrometheusRule live there.
	Namespace string
	// Cluster is the Mesh's cluster name, put on every target as "cluster".
	Cluster string
	// ScrapeInterval of the ServiceMonitor and PodMonitor.
	ScrapeInterval time.Duration
	// RateWindow is the range of the golden-signal recording rules. Zero
	// means four scrape intervals, and at least a minute.
	RateWindow time.Duration
	// MonitorLabels go on the ServiceMonitor and PodMonitor, RuleLabels on
	// the PrometheusRule, AlertLabels on every alert.
	MonitorLabels, RuleLabels, AlertLabels map[string]string
	// SLO is the default objective of every service; Overrides replace it
	// for some.
	SLO       SLO
	Overrides []ServiceSLO
	// CertificateTTL is the workload certificates' lifetime; the expiry
	// alert fires when a quarter of it is left, that is, when renewals have
	// failed for a quarter of it.
	CertificateTTL time.Duration
	// RunbookURL is where runbooks live; an alert's runbook is
	// RunbookURL + "/" + its name + ".md".
	RunbookURL string
	// ControlPlaneMetrics is how the operator serves its metrics, which
	// decides how the ServiceMonitor scrapes it, and whether the control
	// plane is watched at all.
	ControlPlaneMetrics MetricsServing
	// Dashboard ConfigMaps: namespace and the Grafana sidecar's label.
	DashboardNamespace           string
	DashboardLabel, DashboardKey string
}

// MetricsServing is how the operator serves its metrics.
type MetricsServing int

// Ways the operator serves its metrics.
const (
	// MetricsHTTP: plain HTTP (the default, --metrics-bind-address=:8080).
	MetricsHTTP MetricsServing = iota
	// MetricsHTTPS: HTTPS for authenticated, authorized callers only
	// (--metrics-secure); Prometheus presents its ServiceAccount token.
	MetricsHTTPS
	// MetricsOff: not served (--metrics-bind-address=0), or the Mesh turns
	// the ServiceMonitor off: no scrape, and no control-plane-down alert.
	MetricsOff
)

// SLO is an availability and a latency objective, as ratios (0.999, not
// "99.9").
type SLO struct {
	Availability float64
	// Latency is the ratio of requests that must finish within
	// LatencyThreshold.
	Latency          float64
	LatencyThreshold time.Duration
}

// ServiceSLO overrides the objectives of one service. A zero field keeps
// the default.
type ServiceSLO struct {
	Namespace, Name string
	Availability    float64
	Latency         float64
}

// DefaultRunbookURL is where the runbooks of docs/runbooks are published.
const DefaultRunbookURL = "https://github.com/plexus-mesh/plexus/blob/main/docs/runbooks"

// window is the golden-signal rate range.
func (o *Options) window() time.Duration {
	if o.RateWindow > 0 {
		return o.RateWindow
	}
	return max(4*o.ScrapeInterval, time.Minute)
}

// ParsePercent turns "99.9" into 0.999, checking it is a usable objective:
// at least 50, below 100, with at most four decimals (99.9999).
func ParsePercent(s string) (float64, error) {
	bad := fmt.Errorf("%q is not a percentage from 50 up to (not including) 100 with at most four decimals, such as \"99.9\"", s)
	t := strings.TrimSpace(s)
	if i := strings.IndexByte(t, '.'); i >= 0 && len(t)-i-1 > 4 {
		return 0, bad
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 50 || v >= 100 {
		return 0, bad
	}
	// Divided as an integer of 1e-4 percent, so 99.99 is 0.9999 and not
	// 0.9998999999999999.
	return math.Round(v*1e4) / 1e6, nil
}

// LatencyBucket checks that d is a bound of the request duration
// histogram, which a latency objective must be: the ratio of fast requests
// is read from the bucket at that bound.
func LatencyBucket(d time.Duration, bounds []float64) error {
	if slices.Contains(bounds, d.Seconds()) {
		return nil
	}
	return fmt.Errorf("%s is not one of the request duration histogram's bounds; use one of %s", d, strings.Join(LatencyThresholds(bounds), ", "))
}

// LatencyThresholds are the bounds a latency objective can name: those a
// Mesh can write (whole milliseconds, at least 1ms).
func LatencyThresholds(bounds []float64) []string {
	var out []string
	for _, b := range bounds {
		ms := b * 1000
		if ms < 1 || ms != math.Trunc(ms) {
			continue
		}
		if int64(ms)%1000 == 0 {
			out = append(out, fmt.Sprintf("%ds", int64(ms)/1000))
		} else {
			out = append(out, fmt.Sprintf("%dms", int64(ms)))
		}
	}
	return out
}

// promDuration formats d the way Prometheus writes durations (1m, 90s, 1h).
func promDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}

// merged returns base with extra on top, so the caller's labels cannot
// remove the ones Plexus needs.
func merged(extra, base map[string]string) map[string]string {
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, base)
	return out
}
