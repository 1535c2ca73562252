package install_test

import (
	"context"
	"encoding/json"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// olmNamespace stands for the namespace OLM installs the operator into.
const olmNamespace = "operators"

func toUnstructured(t *testing.T, obj runtime.Object, apiVersion, kind string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	return u
}

// TestBundleAppliesToAPIServer makes, from the bundle, the objects OLM
// makes (the CRDs, the bundle's other manifests in the operator's
// namespace, the Deployment, roles and webhook configuration of the CSV)
// and the CSV's alm-examples, and applies them to a real API server with a
// server-side dry run.
func TestBundleAppliesToAPIServer(t *testing.T) {
	b := loadBundle(t)
	csv := b.CSV
	var objs []*unstructured.Unstructured
	for _, crd := range b.V1CRDs {
		objs = append(objs, toUnstructured(t, crd, "apiextensions.k8s.io/v1", "CustomResourceDefinition"))
	}
	for _, o := range b.Objects {
		if k := o.GetKind(); k == "ClusterServiceVersion" || k == "CustomResourceDefinition" {
			continue
		}
		o = o.DeepCopy()
		if o.GetKind() != "ClusterRole" {
			o.SetNamespace(olmNamespace)
		}
		objs = append(objs, o)
	}
	strategy := csv.Spec.InstallStrategy.StrategySpec
	for _, d := range strategy.DeploymentSpecs {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: olmNamespace, Labels: d.Label}, Spec: d.Spec}
		objs = append(objs, toUnstructured(t, dep, "apps/v1", "Deployment"))
	}
	for _, p := range strategy.ClusterPermissions {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "olm-" + p.ServiceAccountName}, Rules: p.Rules}
		objs = append(objs, toUnstructured(t, role, "rbac.authorization.k8s.io/v1", "ClusterRole"))
	}
	for _, p := range strategy.Permissions {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "olm-" + p.ServiceAccountName, Namespace: olmNamespace}, Rules: p.Rules}
		objs = append(objs, toUnstructured(t, role, "rbac.authorization.k8s.io/v1", "Role"))
	}
	for _, w := range csv.Spec.WebhookDefinitions {
		if w.Type != operatorsv1alpha1.MutatingAdmissionWebhook {
			t.Fatalf("webhook definition %s: type %s, want the mutating injector", w.GenerateName, w.Type)
		}
		// As OLM builds it for an AllNamespaces OperatorGroup.
		hook := w.GetMutatingWebhook(olmNamespace, nil, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: w.GenerateName + "-olm"},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{hook},
		}
		objs = append(objs, toUnstructured(t, cfg, "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"))
	}
	var examples []map[string]any
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil {
		t.Fatalf("alm-examples: %v", err)
	}
	for _, e := range examples {
		u := &unstructured.Unstructured{Object: e}
		if u.GetKind() != "Mesh" {
			u.SetNamespace(olmNamespace)
		}
		objs = append(objs, u)
	}
	if len(examples) != 4 {
		t.Errorf("%d alm-examples, want one of each owned kind", len(examples))
	}
	if err := env.DryRunApply(context.Background(), objs); err != nil {
		t.Fatalf("the bundle does not apply:\n%v", err)
	}
}
