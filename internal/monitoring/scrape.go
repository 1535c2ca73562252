package monitoring

import (
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// Target is a scrape target found without Kubernetes: a control plane or
// a proxy, at Address (host:port), with the namespace and pod labels
// Kubernetes service discovery would give it. Cluster, when set, labels
// it with its own cluster instead of Options.Cluster: one Prometheus for
// several clusters, as make demo runs.
type Target struct {
	Address, Namespace, Pod, Cluster string
}

// PrometheusSetup is what a Prometheus without the operator needs: the
// targets of the ServiceMonitor and of the PodMonitor, rule files and
// Alertmanagers.
type PrometheusSetup struct {
	ControlPlanes, Proxies []Target
	RuleFiles              []string
	// Alertmanagers are host:port addresses.
	Alertmanagers      []string
	EvaluationInterval time.Duration
}

// PrometheusConfig writes a Prometheus configuration that scrapes s's
// targets the way the ServiceMonitor and PodMonitor of o make
// prometheus-operator scrape them (same jobs, paths, intervals and
// relabelings), for local mode and for tests against a real Prometheus.
func PrometheusConfig(o Options, s PrometheusSetup) ([]byte, error) {
	sm, pm := ServiceMonitor(o), PodMonitor(o)
	if len(sm.Spec.Endpoints) != 1 || len(pm.Spec.PodMetricsEndpoints) != 1 {
		return nil, fmt.Errorf("expected one endpoint in the ServiceMonitor and the PodMonitor")
	}
	se, pe := sm.Spec.Endpoints[0], pm.Spec.PodMetricsEndpoints[0]
	eval := s.EvaluationInterval
	if eval == 0 {
		eval = o.ScrapeInterval
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     promDuration(o.ScrapeInterval),
			"evaluation_interval": promDuration(eval),
		},
		"rule_files": s.RuleFiles,
		"scrape_configs": []any{
			scrapeConfig(se.Interval, se.Path, se.RelabelConfigs, s.ControlPlanes),
			scrapeConfig(pe.Interval, pe.Path, pe.RelabelConfigs, s.Proxies),
		},
	}
	if len(s.Alertmanagers) > 0 {
		cfg["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{
			"api_version":    "v2",
			"static_configs": []any{map[string]any{"targets": s.Alertmanagers}},
		}}}
	}
	return yaml.Marshal(cfg)
}

func scrapeConfig(interval monitoringv1.Duration, path string, relabel []monitoringv1.RelabelConfig, targets []Target) map[string]any {
	job := "plexus"
	perTarget := false
	for _, t := range targets {
		perTarget = perTarget || t.Cluster != ""
	}
	var relabels []any
	for _, r := range relabel {
		if r.TargetLabel == "job" && r.Replacement != nil {
			job = *r.Replacement
		}
		if perTarget && r.TargetLabel == LabelCluster {
			continue // each target says its cluster
		}
		rc := map[string]any{"action": r.Action, "target_label": r.TargetLabel}
		if r.Replacement != nil {
			rc["replacement"] = *r.Replacement
		}
		relabels = append(relabels, rc)
	}
	static := make([]any, 0, len(targets))
	for _, t := range targets {
		labels := map[string]string{"namespace": t.Namespace, "pod": t.Pod}
		if t.Cluster != "" {
			labels[LabelCluster] = t.Cluster
		}
		static = append(static, map[string]any{"targets": []string{t.Address}, "labels": labels})
	}
	return map[string]any{
		"job_name":        job,
		"scrape_interval": string(interval),
		"metrics_path":    path,
		"static_configs":  static,
		"relabel_configs": relabels,
	}
}
