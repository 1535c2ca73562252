package monitoring

import (
	"fmt"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Severities, the label Alertmanager routes on: critical pages someone,
// warning opens a ticket.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// Alert names. Each has a runbook, docs/runbooks/<name>.md.
const (
	AlertServiceErrorRate         = "PlexusServiceHighErrorRate"
	AlertServiceLatency           = "PlexusServiceHighLatency"
	AlertErrorBudgetBurnFast      = "PlexusErrorBudgetBurnFast"
	AlertErrorBudgetBurnSlow      = "PlexusErrorBudgetBurnSlow"
	AlertLatencyBudgetBurnFast    = "PlexusLatencyBudgetBurnFast"
	AlertLatencyBudgetBurnSlow    = "PlexusLatencyBudgetBurnSlow"
	AlertCircuitBreakerOverflow   = "PlexusCircuitBreakerOverflowing"
	AlertOutlierEjections         = "PlexusOutlierEjections"
	AlertProxyCertificateExpiry   = "PlexusProxyCertificateExpiring"
	AlertCARootExpiry             = "PlexusCARootExpiring"
	AlertProxyDisconnected        = "PlexusProxyDisconnected"
	AlertConfigRejected           = "PlexusConfigRejected"
	AlertProxyRefused             = "PlexusProxyRefused"
	AlertControlPlaneDown         = "PlexusControlPlaneDown"
	AlertPeerDisconnected         = "PlexusPeerDisconnected"
	errorRateThreshold            = 0.05
	caRootWarning                 = 30 * 24 * time.Hour
	defaultCertificateTTLForSPIRE = time.Hour
)

// Alerts lists every alert name, for tests and docs.
func Alerts() []string {
	return []string{
		AlertServiceErrorRate, AlertServiceLatency,
		AlertErrorBudgetBurnFast, AlertErrorBudgetBurnSlow, AlertLatencyBudgetBurnFast, AlertLatencyBudgetBurnSlow,
		AlertCircuitBreakerOverflow, AlertOutlierEjections,
		AlertProxyCertificateExpiry, AlertCARootExpiry,
		AlertProxyDisconnected, AlertConfigRejected, AlertProxyRefused, AlertControlPlaneDown, AlertPeerDisconnected,
	}
}

// serviceTemplate names the service of an alert in its annotations.
const serviceTemplate = "{{ $labels.destination_service }}.{{ $labels.destination_namespace }} in cluster {{ $labels.destination_cluster }}"

type alertSpec struct {
	name, expr, severity string
	forDur               string
	summary, description string
}

func alerts(o Options) []monitoringv1.Rule {
	w := promDuration(o.window())
	svc := serviceTemplate
	ttl := o.CertificateTTL
	if ttl == 0 {
		ttl = defaultCertificateTTLForSPIRE
	}
	up := fmt.Sprintf(`up{job="%s",%s="%s"}`, JobControlPlane, LabelCluster, o.Cluster)
	specs := []alertSpec{
		{
			name: AlertServiceErrorRate, severity: SeverityWarning, forDur: "5m",
			expr:    fmt.Sprintf("%s > %g", sel(ServiceErrorRatio, outbound), errorRateThreshold),
			summary: "More than 5% of requests to " + svc + " fail.",
			description: "{{ $value | humanizePercentage }} of the requests callers in cluster {{ $labels.cluster }} sent to " + svc +
				" over the last " + w + " ended in a 5xx or a gRPC server error.",
		},
		{
			name: AlertServiceLatency, severity: SeverityWarning, forDur: "10m",
			expr:    fmt.Sprintf("%s > %s", sel(ServiceP99, outbound), seconds(o.SLO.LatencyThreshold)),
			summary: "Requests to " + svc + " are slow: p99 above " + o.SLO.LatencyThreshold.String() + ".",
			description: "The 99th percentile latency callers in cluster {{ $labels.cluster }} see from " + svc +
				" is {{ $value | humanizeDuration }}, above the latency objective's threshold of " + o.SLO.LatencyThreshold.String() + ".",
		},
		burn(AlertErrorBudgetBurnFast, SeverityCritical, SLOErrorRatio, "availability", [][3]string{{"1h", "5m", "14.4"}, {"6h", "30m", "6"}}),
		burn(AlertErrorBudgetBurnSlow, SeverityWarning, SLOErrorRatio, "availability", [][3]string{{"1d", "2h", "3"}, {"3d", "6h", "1"}}),
		burn(AlertLatencyBudgetBurnFast, SeverityCritical, SLOSlowRatio, "latency", [][3]string{{"1h", "5m", "14.4"}, {"6h", "30m", "6"}}),
		burn(AlertLatencyBudgetBurnSlow, SeverityWarning, SLOSlowRatio, "latency", [][3]string{{"1d", "2h", "3"}, {"3d", "6h", "1"}}),
		{
			name: AlertCircuitBreakerOverflow, severity: SeverityWarning, forDur: "5m",
			expr:    fmt.Sprintf("sum by (%s, %s) (rate(%s[%s])) > 0", by(byDestination), telemetry.LabelLimit, telemetry.CircuitBreakerOverflows.Name, w),
			summary: "Circuit breakers refuse requests to " + svc + ".",
			description: "Proxies in cluster {{ $labels.cluster }} refuse {{ $value | humanize }} requests/s to " + svc +
				" because its {{ $labels.limit }} limit is reached: the service is saturated or the limit is too low.",
		},
		{
			name: AlertOutlierEjections, severity: SeverityWarning,
			expr:    fmt.Sprintf("sum by (%s) (increase(%s[15m])) >= 3", by(byDestination), telemetry.OutlierEjections.Name),
			summary: "Endpoints of " + svc + " keep being ejected.",
			description: "Outlier detection in cluster {{ $labels.cluster }} ejected endpoints of " + svc +
				" {{ $value | humanize }} times in 15 minutes: some instances keep failing.",
		},
		{
			name: AlertProxyCertificateExpiry, severity: SeverityCritical, forDur: "5m",
			expr:    fmt.Sprintf("(%s > 0) - time() < %s", telemetry.ProxyCertificateExpiry.Name, seconds(ttl/4)),
			summary: "The workload certificate of {{ $labels.namespace }}/{{ $labels.pod }} expires soon.",
			description: "The proxy's certificate expires in {{ $value | humanizeDuration }}. Proxies renew at half of the certificate's " + ttl.String() +
				" lifetime, so renewals have been failing for a quarter of it; when it expires, the workload's mTLS connections fail.",
		},
		{
			name: AlertCARootExpiry, severity: SeverityWarning, forDur: "1h",
			expr:    fmt.Sprintf("%s - time() < %s", telemetry.CARootExpiry.Name, seconds(caRootWarning)),
			summary: "The mesh CA's signing certificate in cluster {{ $labels.cluster }} expires in less than 30 days.",
			description: "The CA certificate that signs workload certificates expires in {{ $value | humanizeDuration }}. " +
				"Renew or rotate the root before then, or every workload certificate stops being trusted.",
		},
		{
			name: AlertProxyDisconnected, severity: SeverityWarning, forDur: "5m",
			expr:    fmt.Sprintf("%s == 0", telemetry.ProxyXDSConnected.Name),
			summary: "The proxy of {{ $labels.namespace }}/{{ $labels.pod }} is disconnected from the control plane.",
			description: "The proxy has had no xDS stream for 5 minutes: it keeps serving with its last configuration, " +
				"but misses endpoint, route and policy changes.",
		},
		{
			name: AlertConfigRejected, severity: SeverityWarning,
			expr:    fmt.Sprintf("sum by (%s, %s) (increase(%s[10m])) > 0", LabelCluster, telemetry.LabelType, telemetry.XDSNACKs.Name),
			summary: "Proxies in cluster {{ $labels.cluster }} reject {{ $labels.type }} configuration.",
			description: "Proxies refused {{ $value | humanize }} {{ $labels.type }} updates in 10 minutes and keep their previous configuration. " +
				"The Mesh's ConfigAccepted condition names the proxies and the error.",
		},
		{
			name: AlertProxyRefused, severity: SeverityWarning,
			expr:    fmt.Sprintf(`sum by (%s) (increase(%s{%s="refused"}[10m])) > 0`, LabelCluster, telemetry.XDSStreams.Name, telemetry.LabelResult),
			summary: "The control plane in cluster {{ $labels.cluster }} refused proxies.",
			description: "{{ $value | humanize }} xDS streams were refused in 10 minutes: a plaintext proxy where mutual TLS is required, or a proxy that claimed a workload other than its certificate's, or another identity's node ID. " +
				"The operator's log line \"refused a proxy\" names the node and both identities.",
		},
		{
			name: AlertPeerDisconnected, severity: SeverityWarning, forDur: "5m",
			expr:    fmt.Sprintf("%s == 0", telemetry.FederationPeerConnected.Name),
			summary: "Cluster {{ $labels.cluster }} is disconnected from its peer {{ $labels.peer }}.",
			description: "The federation stream to peer {{ $labels.peer }} has been down for 5 minutes. Its services stay imported until the MeshPeer's importStaleness, " +
				"then they are withdrawn. The MeshPeer's Connected condition says why.",
		},
		{
			name: AlertControlPlaneDown, severity: SeverityCritical, forDur: "5m",
			expr:    fmt.Sprintf("max by (%s, job) (%s) == 0\nor\nabsent(%s)", LabelCluster, up, up),
			summary: "No Plexus control plane is up in cluster " + o.Cluster + ".",
			description: "Prometheus has not scraped a healthy plexus-operator in 5 minutes. Proxies keep their configuration, " +
				"but no changes reach them, no certificates are issued or renewed, and no sidecars are injected.",
		},
	}
	rules := make([]monitoringv1.Rule, 0, len(specs))
	for _, s := range specs {
		if s.name == AlertControlPlaneDown && o.ControlPlaneMetrics == MetricsOff {
			continue // nothing scrapes the control plane: it would always fire
		}
		r := monitoringv1.Rule{
			Alert:  s.name,
			Expr:   intstr.FromString(s.expr),
			Labels: merged(o.AlertLabels, map[string]string{"severity": s.severity}),
			Annotations: map[string]string{
				"summary":     s.summary,
				"description": s.description,
				"runbook_url": runbook(o, s.name),
			},
		}
		if s.forDur != "" {
			d := monitoringv1.Duration(s.forDur)
			r.For = &d
		}
		rules = append(rules, r)
	}
	return rules
}

// burn is a multi-window, multi-burn-rate alert: it fires when, for any
// pair, both the long and the short window burn the error budget faster
// than the factor. The short window makes it resolve soon after the
// burning stops.
func burn(name, severity string, series func(string) string, slo string, pairs [][3]string) alertSpec {
	svc := serviceTemplate
	budget := sel(SLOErrorBudget, fmt.Sprintf(`slo="%s"`, slo))
	on := by(bySLO)
	var terms []string
	for _, p := range pairs {
		terms = append(terms, fmt.Sprintf("(\n  %s > on (%s) (%s * %s)\nand on (%s)\n  %s > on (%s) (%s * %s)\n)",
			series(p[0]), on, p[2], budget, on, series(p[1]), on, p[2], budget))
	}
	what := map[string]string{"availability": "error", "latency": "latency"}[slo]
	speed := "fast"
	if severity == SeverityWarning {
		speed = "slowly but steadily"
	}
	return alertSpec{
		name: name, severity: severity, forDur: map[string]string{SeverityCritical: "2m", SeverityWarning: "15m"}[severity],
		expr:    strings.Join(terms, "\nor\n"),
		summary: fmt.Sprintf("%s burns its %s budget %s.", svc, what, speed),
		description: fmt.Sprintf("Callers in cluster {{ $labels.cluster }} see %s use up its 30-day %s budget (objective: the %s objective) at this rate: "+
			"%s. At this pace the budget runs out before the window ends.", svc, what, slo, burnRates(pairs)),
	}
}

func burnRates(pairs [][3]string) string {
	var parts []string
	for _, p := range pairs {
		parts = append(parts, fmt.Sprintf("%sx over %s and %s", p[2], p[0], p[1]))
	}
	return "more than " + strings.Join(parts, ", or ")
}

func runbook(o Options, name string) string {
	base := o.RunbookURL
	if base == "" {
		base = DefaultRunbookURL
	}
	return strings.TrimSuffix(base, "/") + "/" + name + ".md"
}
