package monitoring

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of the objects the operator installs.
const (
	NameControlPlane = "plexus-control-plane"
	NameProxies      = "plexus-proxies"
	NameRules        = "plexus"
	// LabelManagedBy and ManagedBy mark every object the operator owns.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "plexus-operator"
)

// ServiceMonitor scrapes the operator's metrics Service.
func ServiceMonitor(o Options) *monitoringv1.ServiceMonitor {
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: meta(NameControlPlane, o.Namespace, o.MonitorLabels),
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector:          metav1.LabelSelector{MatchLabels: map[string]string{LabelComponent: ComponentOperator}},
			NamespaceSelector: monitoringv1.NamespaceSelector{MatchNames: []string{o.Namespace}},
			Endpoints:         []monitoringv1.Endpoint{controlPlaneEndpoint(o)},
		},
	}
}

// controlPlaneEndpoint scrapes the operator over HTTP, or over HTTPS with
// Prometheus's ServiceAccount token when it serves metrics only to
// authorized callers (--metrics-secure, with a self-signed certificate).
func controlPlaneEndpoint(o Options) monitoringv1.Endpoint {
	e := monitoringv1.Endpoint{
		Port:           PortMetrics,
		Path:           "/metrics",
		Interval:       monitoringv1.Duration(promDuration(o.ScrapeInterval)),
		RelabelConfigs: targetLabels(JobControlPlane, o.Cluster),
	}
	if o.ControlPlaneMetrics == MetricsHTTPS {
		https, skip := monitoringv1.SchemeHTTPS, true
		e.Scheme = &https
		e.BearerTokenFile = serviceAccountToken //nolint:staticcheck // the operator's RBAC filter takes a ServiceAccount token; authorization needs a Secret the user would have to create
		e.TLSConfig = &monitoringv1.TLSConfig{SafeTLSConfig: monitoringv1.SafeTLSConfig{InsecureSkipVerify: &skip}}
	}
	return e
}

// serviceAccountToken is where Prometheus's pod has its own token.
const serviceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// PodMonitor scrapes every injected proxy, in every namespace, on its
// status port.
func PodMonitor(o Options) *monitoringv1.PodMonitor {
	port := PortProxyStatus
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: meta(NameProxies, o.Namespace, o.MonitorLabels),
		Spec: monitoringv1.PodMonitorSpec{
			Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: LabelProxy, Operator: metav1.LabelSelectorOpExists},
			}},
			NamespaceSelector: monitoringv1.NamespaceSelector{Any: true},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{
				Port:           &port,
				Path:           "/metrics",
				Interval:       monitoringv1.Duration(promDuration(o.ScrapeInterval)),
				RelabelConfigs: targetLabels(JobProxy, o.Cluster),
			}},
		},
	}
}

// PrometheusRule holds RuleGroups.
func PrometheusRule(o Options) *monitoringv1.PrometheusRule {
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: meta(NameRules, o.Namespace, o.RuleLabels),
		Spec:       monitoringv1.PrometheusRuleSpec{Groups: RuleGroups(o)},
	}
}

// targetLabels name the job, so rules do not depend on Service names, and
// the cluster, so one Prometheus can watch several clusters.
func targetLabels(job, cluster string) []monitoringv1.RelabelConfig {
	return []monitoringv1.RelabelConfig{
		{Action: "replace", TargetLabel: "job", Replacement: &job},
		{Action: "replace", TargetLabel: LabelCluster, Replacement: &cluster},
	}
}

func meta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace,
		Labels: merged(labels, map[string]string{LabelManagedBy: ManagedBy, "app.kubernetes.io/part-of": "plexus"}),
	}
}
