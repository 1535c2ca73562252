package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

// TestInjectionSelector: the one selector both the operator's webhook
// configuration and the webhook's own check (for OLM's configuration) use.
func TestInjectionSelector(t *testing.T) {
	exclude := []string{"plexus-system", "kube-system"}
	custom := &meshv1.Mesh{Spec: meshv1.MeshSpec{Injection: &meshv1.Injection{NamespaceSelector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"shop"}}},
	}}}}
	tests := map[string]struct {
		mesh   *meshv1.Mesh
		labels map[string]string
		want   bool
	}{
		"default label":                          {mesh: &meshv1.Mesh{}, labels: map[string]string{"kubernetes.io/metadata.name": "shop", "mesh.plexus.dev/inject": "enabled"}, want: true},
		"default, unlabelled":                    {mesh: &meshv1.Mesh{}, labels: map[string]string{"kubernetes.io/metadata.name": "shop"}},
		"default, excluded namespace":            {mesh: &meshv1.Mesh{}, labels: map[string]string{"kubernetes.io/metadata.name": "kube-system", "mesh.plexus.dev/inject": "enabled"}},
		"Mesh's selector":                        {mesh: custom, labels: map[string]string{"kubernetes.io/metadata.name": "shop", "team": "shop"}, want: true},
		"Mesh's selector, not the default label": {mesh: custom, labels: map[string]string{"kubernetes.io/metadata.name": "shop", "mesh.plexus.dev/inject": "enabled"}},
		"Mesh's selector, excluded namespace":    {mesh: custom, labels: map[string]string{"kubernetes.io/metadata.name": "plexus-system", "team": "shop"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sel, err := metav1.LabelSelectorAsSelector(InjectionSelector(tc.mesh, exclude))
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
				t.Errorf("selects %v: %v, want %v (selector %s)", tc.labels, got, tc.want, sel)
			}
		})
	}
	// The Mesh's own selector is not changed by the exclusions added.
	before := custom.Spec.Injection.NamespaceSelector.DeepCopy()
	InjectionSelector(custom, exclude)
	if diff := cmp.Diff(before, custom.Spec.Injection.NamespaceSelector); diff != "" {
		t.Errorf("InjectionSelector changed the Mesh (-before +after):\n%s", diff)
	}
}
