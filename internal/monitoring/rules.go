package monitoring

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Recording rule names: the golden signals per service (both directions:
// direction="outbound" is what callers saw, "inbound" what the service's
// own proxies saw) and per edge (one calling workload to one service, from
// the caller's side), over the golden-signal window.
const (
	ServiceRequests   = "plexus:service:requests:rate"
	ServiceErrors     = "plexus:service:errors:rate"
	ServiceErrorRatio = "plexus:service:error_ratio:rate"
	ServiceP50        = "plexus:service:latency_seconds:p50"
	ServiceP99        = "plexus:service:latency_seconds:p99"
	EdgeRequests      = "plexus:edge:requests:rate"
	EdgeErrors        = "plexus:edge:errors:rate"
	EdgeErrorRatio    = "plexus:edge:error_ratio:rate"
	EdgeP99           = "plexus:edge:latency_seconds:p99"
	// SLOErrorBudget is 1 - objective per service, with slo="availability"
	// or slo="latency".
	SLOErrorBudget = "plexus:slo:error_budget"
)

// SLO windows of the multi-window, multi-burn-rate alerts (The Site
// Reliability Workbook, chapter 5), each long window paired with a short
// one at a twelfth of it.
var sloWindows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

// SLOErrorRatio and SLOSlowRatio name the per-window ratios of failed and
// of slow requests, for example plexus:slo:error_ratio:rate1h.
func SLOErrorRatio(w string) string { return "plexus:slo:error_ratio:rate" + w }

// SLOSlowRatio is the ratio of requests slower than the latency threshold.
func SLOSlowRatio(w string) string { return "plexus:slo:slow_ratio:rate" + w }

// Rule group names.
const (
	GroupGoldenSignals = "plexus.golden-signals"
	GroupSLO           = "plexus.slo"
	GroupAlerts        = "plexus.alerts"
)

// RuleGroups returns the recording rules and alerts.
func RuleGroups(o Options) []monitoringv1.RuleGroup {
	return []monitoringv1.RuleGroup{
		{Name: GroupGoldenSignals, Rules: goldenSignals(o)},
		{Name: GroupSLO, Rules: sloRules(o)},
		{Name: GroupAlerts, Rules: alerts(o)},
	}
}

func record(name, expr string, labels ...string) monitoringv1.Rule {
	r := monitoringv1.Rule{Record: name, Expr: intstr.FromString(expr)}
	for i := 0; i+1 < len(labels); i += 2 {
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		r.Labels[labels[i]] = labels[i+1]
	}
	return r
}

func goldenSignals(o Options) []monitoringv1.Rule {
	w := promDuration(o.window())
	edge := outbound
	return []monitoringv1.Rule{
		record(ServiceRequests, requestRate(byService, w, "")),
		record(ServiceErrors, errorRate(byService, w, "")),
		record(ServiceErrorRatio, ServiceErrors+" / "+ServiceRequests),
		record(ServiceP50, quantile(0.5, byService, w, "")),
		record(ServiceP99, quantile(0.99, byService, w, "")),
		record(EdgeRequests, requestRate(byEdge, w, edge)),
		record(EdgeErrors, errorRate(byEdge, w, edge)),
		record(EdgeErrorRatio, EdgeErrors+" / "+EdgeRequests),
		record(EdgeP99, quantile(0.99, byEdge, w, edge)),
	}
}

func sloRules(o Options) []monitoringv1.Rule {
	var rules []monitoringv1.Rule
	bucket := telemetry.RequestDuration.Name + "_bucket"
	count := telemetry.RequestDuration.Name + "_count"
	for _, w := range sloWindows {
		rules = append(rules,
			record(SLOErrorRatio(w), fmt.Sprintf("%s\n/\n%s", errorRate(bySLO, w, outbound), requestRate(bySLO, w, outbound))),
			record(SLOSlowRatio(w), fmt.Sprintf("1 - (\n  sum by (%s) (rate(%s[%s]))\n/\n  sum by (%s) (rate(%s[%s]))\n)",
				by(bySLO), sel(bucket, outbound, leMatcher(o.SLO.LatencyThreshold.Seconds())), w,
				by(bySLO), sel(count, outbound), w)),
		)
	}
	rules = append(rules, budgets("availability", o.SLO.Availability, o.Overrides, func(s ServiceSLO) float64 { return s.Availability })...)
	rules = append(rules, budgets("latency", o.SLO.Latency, o.Overrides, func(s ServiceSLO) float64 { return s.Latency })...)
	return rules
}

// budgets records the error budget of every service with traffic: the
// default objective's, except for services that override it, which get
// their own rule. Alerts then compare burn rates to this series, so one set
// of alerts serves every objective.
func budgets(slo string, def float64, overrides []ServiceSLO, pick func(ServiceSLO) float64) []monitoringv1.Rule {
	services := fmt.Sprintf("group by (%s) (%s)", by(bySLO), sel(ServiceRequests, outbound))
	var own, except []string
	var rules []monitoringv1.Rule
	for _, s := range overrides {
		v := pick(s)
		if v == 0 {
			continue
		}
		m := fmt.Sprintf(`%s,%s="%s",%s="%s"`, outbound, telemetry.LabelDestinationNamespace, s.Namespace, telemetry.LabelDestinationService, s.Name)
		except = append(except, sel(ServiceRequests, m))
		own = append(own, fmt.Sprintf("%s * group by (%s) (%s)", ratio(1-v), by(bySLO), sel(ServiceRequests, m)))
	}
	def0 := fmt.Sprintf("%s * %s", ratio(1-def), services)
	if len(except) > 0 {
		def0 += fmt.Sprintf("\nunless on (%s, %s)\n  (%s)", telemetry.LabelDestinationNamespace, telemetry.LabelDestinationService, strings.Join(except, " or "))
	}
	rules = append(rules, record(SLOErrorBudget, def0, "slo", slo))
	for _, e := range own {
		rules = append(rules, record(SLOErrorBudget, e, "slo", slo))
	}
	return rules
}

// ratio writes a budget without float noise (0.0010000000000000009).
func ratio(v float64) string {
	return strconv.FormatFloat(v, 'g', 10, 64)
}

// seconds writes d as a PromQL number of seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
