package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

func TestMeshReadiness(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	mesh := func(name string, created metav1.Time, mutate func(*meshv1.MeshSpec)) meshv1.Mesh {
		m := meshv1.Mesh{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created, Generation: 3},
			Spec:       meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"},
		}
		if mutate != nil {
			mutate(&m.Spec)
		}
		return m
	}
	deleting := mesh("old", t0, nil)
	deleting.DeletionTimestamp = &t1

	tests := map[string]struct {
		mesh       meshv1.Mesh
		others     []meshv1.Mesh
		wantStatus metav1.ConditionStatus
		wantReason string
		wantMsg    string
	}{
		"valid": {
			mesh: mesh("default", t0, nil), wantStatus: metav1.ConditionTrue, wantReason: meshv1.ReasonValid,
			wantMsg: `cluster "east", trust domain "east.example", mTLS STRICT`,
		},
		"newer duplicate": {
			mesh: mesh("second", t1, nil), others: []meshv1.Mesh{mesh("first", t0, nil)},
			wantStatus: metav1.ConditionFalse, wantReason: meshv1.ReasonDuplicateMesh,
			wantMsg: `Mesh "first" is older and is this cluster's mesh`,
		},
		"older of two": {
			mesh: mesh("first", t0, nil), others: []meshv1.Mesh{mesh("second", t1, nil)},
			wantStatus: metav1.ConditionTrue, wantReason: meshv1.ReasonValid,
		},
		"same age, name decides": {
			mesh: mesh("b", t0, nil), others: []meshv1.Mesh{mesh("a", t0, nil)},
			wantStatus: metav1.ConditionFalse, wantReason: meshv1.ReasonDuplicateMesh,
		},
		"older one is being deleted": {
			mesh: mesh("new", t1, nil), others: []meshv1.Mesh{deleting},
			wantStatus: metav1.ConditionTrue, wantReason: meshv1.ReasonValid,
		},
		"alert label not a Prometheus label": {
			mesh: mesh("default", t0, func(s *meshv1.MeshSpec) {
				s.Observability = &meshv1.Observability{PrometheusRule: &meshv1.PrometheusRuleConfig{AlertLabels: map[string]string{"team-name": "x"}}}
			}),
			wantStatus: metav1.ConditionFalse, wantReason: meshv1.ReasonInvalidSpec,
			wantMsg: `spec.observability.prometheusRule.alertLabels[team-name]: Invalid value: "team-name": not a Prometheus label name`,
		},
		"bad namespace selector and bad grafana label": {
			mesh: mesh("default", t0, func(s *meshv1.MeshSpec) {
				s.Injection = &meshv1.Injection{NamespaceSelector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}},
				}}
				s.Observability = &meshv1.Observability{Grafana: &meshv1.GrafanaConfig{LabelKey: "bad key"}}
			}),
			wantStatus: metav1.ConditionFalse, wantReason: meshv1.ReasonInvalidSpec,
			wantMsg: `spec.injection.namespaceSelector: Invalid value`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			all := append([]meshv1.Mesh{tc.mesh}, tc.others...)
			got := meshReadiness(&tc.mesh, all)
			if got.Type != meshv1.ConditionReady || got.Status != tc.wantStatus || got.Reason != tc.wantReason {
				t.Fatalf("got %s=%s (%s): %s; want %s (%s)", got.Type, got.Status, got.Reason, got.Message, tc.wantStatus, tc.wantReason)
			}
			if got.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want the Mesh's generation 3", got.ObservedGeneration)
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", got.Message, tc.wantMsg)
			}
		})
	}
}
