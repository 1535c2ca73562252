package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// observabilityIs waits for the Mesh's ObservabilityReady condition to
// have reason and a message containing each of want.
func observabilityIs(t *testing.T, name string, status metav1.ConditionStatus, reason string, want ...string) {
	t.Helper()
	testenv.Eventually(t, "Mesh "+name+" ObservabilityReady "+reason, func() error {
		var mesh meshv1.Mesh
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &mesh); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mesh.Status.Conditions, meshv1.ConditionObservabilityReady)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != mesh.Generation {
			var all meshv1.MeshList
			_ = env.Client.List(context.Background(), &all)
			var names []string
			for _, m := range all.Items {
				names = append(names, m.Name+"@"+m.CreationTimestamp.String())
			}
			return fmt.Errorf("condition %+v, want %s/%s at generation %d (meshes: %v)", c, status, reason, mesh.Generation, names)
		}
		for _, w := range want {
			if !strings.Contains(c.Message, w) {
				return fmt.Errorf("message %q does not say %q", c.Message, w)
			}
		}
		return nil
	})
}

func dashboardsIn(t *testing.T, ns string, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d dashboards in %s", n, ns), func() error {
		var cms corev1.ConfigMapList
		if err := env.Client.List(context.Background(), &cms, client.InNamespace(ns), client.MatchingLabels{LabelDashboard: "true"}); err != nil {
			return err
		}
		if len(cms.Items) != n {
			return fmt.Errorf("%d dashboard ConfigMaps", len(cms.Items))
		}
		for _, cm := range cms.Items {
			if cm.Labels["grafana_dashboard"] != "1" || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Kind != "Mesh" {
				return fmt.Errorf("ConfigMap %s: labels %v, owners %v", cm.Name, cm.Labels, cm.OwnerReferences)
			}
		}
		return nil
	})
}

// TestMonitoringFollowsTheMesh walks a Mesh through a cluster without
// prometheus-operator, then with it: the dashboards are there at once, the
// condition says what is missing, and the scrape objects and rules appear
// when the CRDs do, carry the Mesh's settings, and are kept as written.
func TestMonitoringFollowsTheMesh(t *testing.T) {
	ctx := context.Background()
	mesh := &meshv1.Mesh{
		ObjectMeta: metav1.ObjectMeta{Name: "monitored"},
		Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example", Observability: &meshv1.Observability{
			ServiceMonitor: &meshv1.ServiceMonitorConfig{Labels: map[string]string{"release": "kube-prometheus"}, Interval: "15s"},
			PrometheusRule: &meshv1.PrometheusRuleConfig{Labels: map[string]string{"release": "kube-prometheus"}, AlertLabels: map[string]string{"team": "platform"}},
		}},
	}
	if err := env.Client.Create(ctx, mesh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, mesh) })

	// No prometheus-operator yet: dashboards only, and a condition that
	// says so.
	observabilityIs(t, "monitored", metav1.ConditionFalse, ReasonPrometheusOperatorMissing,
		"prometheus-operator CRDs (monitoring.coreos.com/v1) are not installed", "6 Grafana dashboards in "+monitoringNamespace)
	dashboardsIn(t, monitoringNamespace, 6)

	dir, err := testenv.PrometheusOperatorCRDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	observabilityIs(t, "monitored", metav1.ConditionTrue, ReasonInstalled, "ServiceMonitor", "PodMonitor", "PrometheusRule")

	key := func(name string) client.ObjectKey {
		return client.ObjectKey{Namespace: monitoringNamespace, Name: name}
	}
	var sm monitoringv1.ServiceMonitor
	if err := env.Client.Get(ctx, key(monitoring.NameControlPlane), &sm); err != nil {
		t.Fatal(err)
	}
	if sm.Labels["release"] != "kube-prometheus" || sm.Spec.Endpoints[0].Interval != "15s" || *sm.Spec.Endpoints[0].RelabelConfigs[1].Replacement != "east" {
		t.Errorf("ServiceMonitor does not carry the Mesh's labels, interval and cluster: %+v", sm)
	}
	var pm monitoringv1.PodMonitor
	if err := env.Client.Get(ctx, key(monitoring.NameProxies), &pm); err != nil {
		t.Fatal(err)
	}
	if !pm.Spec.NamespaceSelector.Any || pm.OwnerReferences[0].Name != "monitored" {
		t.Errorf("PodMonitor does not select every namespace or is not owned by the Mesh: %+v", pm)
	}
	var rule monitoringv1.PrometheusRule
	if err := env.Client.Get(ctx, key(monitoring.NameRules), &rule); err != nil {
		t.Fatal(err)
	}
	if rule.Labels["release"] != "kube-prometheus" || len(rule.Spec.Groups) != 3 {
		t.Errorf("PrometheusRule: labels %v, %d groups", rule.Labels, len(rule.Spec.Groups))
	}
	for _, r := range rule.Spec.Groups[2].Rules {
		if r.Labels["team"] != "platform" || r.Labels["severity"] == "" {
			t.Errorf("alert %s: labels %v, want team=platform and a severity", r.Alert, r.Labels)
		}
	}

	// Someone deletes the rules and edits the interval: both come back.
	if err := env.Client.Delete(ctx, &rule); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sm.DeepCopy())
	sm.Spec.Endpoints[0].Interval = "5m"
	if err := env.Client.Patch(ctx, &sm, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the PrometheusRule and the ServiceMonitor restored", func() error {
		if err := env.Client.Get(ctx, key(monitoring.NameRules), &monitoringv1.PrometheusRule{}); err != nil {
			return err
		}
		var got monitoringv1.ServiceMonitor
		if err := env.Client.Get(ctx, key(monitoring.NameControlPlane), &got); err != nil {
			return err
		}
		if got.Spec.Endpoints[0].Interval != "15s" {
			return fmt.Errorf("interval %s", got.Spec.Endpoints[0].Interval)
		}
		return nil
	})

	// A Service overrides its objective; a bad override is reported and
	// the default stays in force for it.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "default", Annotations: map[string]string{monitoring.AnnotationSLOAvailability: "99.99"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, svc) })
	testenv.Eventually(t, "the payments objective in the rules", func() error {
		if err := env.Client.Get(ctx, key(monitoring.NameRules), &rule); err != nil {
			return err
		}
		for _, r := range rule.Spec.Groups[1].Rules {
			if r.Record == monitoring.SLOErrorBudget && strings.Contains(r.Expr.String(), `destination_service="payments"`) && strings.HasPrefix(r.Expr.String(), "0.0001 *") {
				return nil
			}
		}
		return fmt.Errorf("no 0.0001 budget for payments")
	})
	svc.Annotations[monitoring.AnnotationSLOAvailability] = "lots"
	if err := env.Client.Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	observabilityIs(t, "monitored", metav1.ConditionFalse, ReasonInvalidObjective,
		"service default/payments, annotation mesh.plexus.dev/slo-availability", `"lots" is not a percentage`)

	// Dashboards move with the Mesh's namespace; turning the scrape objects
	// off removes them.
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "grafana"}}); err != nil {
		t.Fatal(err)
	}
	off := false
	updateMesh(t, "monitored", func(m *meshv1.Mesh) {
		m.Spec.Observability.Grafana = &meshv1.GrafanaConfig{Namespace: "grafana"}
		m.Spec.Observability.ServiceMonitor.Enabled = &off
	})
	dashboardsIn(t, "grafana", 6)
	dashboardsIn(t, monitoringNamespace, 0)
	testenv.Eventually(t, "the ServiceMonitor and PodMonitor removed", func() error {
		for _, obj := range []client.Object{&monitoringv1.ServiceMonitor{}, &monitoringv1.PodMonitor{}} {
			name := monitoring.NameControlPlane
			if _, ok := obj.(*monitoringv1.PodMonitor); ok {
				name = monitoring.NameProxies
			}
			if err := env.Client.Get(ctx, key(name), obj); err == nil {
				return fmt.Errorf("%T %s still there", obj, name)
			}
		}
		return nil
	})
}
