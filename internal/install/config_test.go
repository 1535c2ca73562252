package install_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/plexus-mesh/plexus/internal/install"
	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code, err := runWithEnv(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runWithEnv starts an API server with every CRD the install manifests
// and samples use: Plexus's, Gateway API's, the MCS API's and
// prometheus-operator's.
func runWithEnv(m *testing.M) (int, error) {
	var dirs []string
	for _, dir := range []func() (string, error){testenv.GatewayAPICRDs, testenv.MCSCRDs, testenv.PrometheusOperatorCRDs} {
		d, err := dir()
		if err != nil {
			return 0, err
		}
		dirs = append(dirs, d)
	}
	var err error
	if env, err = testenv.Start(dirs...); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	return m.Run(), nil
}

func configDir(t *testing.T, name string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "config", name)
}

func render(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := install.Kustomize(configDir(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("config/%s renders no objects", name)
	}
	return objs
}

// TestConfigAppliesToAPIServer renders every kustomization in config/ as
// "kubectl kustomize" does and applies it to a real API server with a
// server-side dry run, so a manifest the API refuses fails CI.
func TestConfigAppliesToAPIServer(t *testing.T) {
	for _, dir := range []string{"default", "crd", "rbac", "manager", "webhook", "prometheus", "grafana", "samples"} {
		t.Run(dir, func(t *testing.T) {
			if err := env.DryRunApply(context.Background(), render(t, dir)); err != nil {
				t.Fatalf("config/%s does not apply:\n%v", dir, err)
			}
		})
	}
}

// TestDefaultInstallsEverything checks that config/default holds every
// part the operator needs, and nothing it installs itself.
func TestDefaultInstallsEverything(t *testing.T) {
	objs := render(t, "default")
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if ns := o.GetNamespace(); ns != "" && ns != "plexus-system" {
			t.Errorf("%s %s is in namespace %s, want plexus-system", o.GetKind(), o.GetName(), ns)
		}
	}
	for _, want := range []string{
		"Namespace/plexus-system",
		"CustomResourceDefinition/meshes.mesh.plexus.dev",
		"CustomResourceDefinition/trafficpolicies.mesh.plexus.dev",
		"CustomResourceDefinition/authorizationpolicies.mesh.plexus.dev",
		"CustomResourceDefinition/meshpeers.mesh.plexus.dev",
		"ServiceAccount/plexus-operator",
		"ClusterRole/plexus-operator", "ClusterRoleBinding/plexus-operator",
		"Role/plexus-operator", "RoleBinding/plexus-operator",
		"ClusterRole/plexus-metrics-reader",
		"Deployment/plexus-operator", "Service/plexus-operator", "PodDisruptionBudget/plexus-operator",
		"Service/plexus-operator-webhook",
	} {
		if !slices.Contains(kinds, want) {
			t.Errorf("config/default lacks %s; it has %v", want, kinds)
		}
	}
	for _, k := range kinds {
		// The operator applies these itself, from the Mesh.
		for _, own := range []string{"ServiceMonitor/", "PodMonitor/", "PrometheusRule/", "MutatingWebhookConfiguration/"} {
			if len(k) > len(own) && k[:len(own)] == own {
				t.Errorf("config/default holds %s, which the operator manages itself", k)
			}
		}
	}
}

func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			out := new(T)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// TestManagerDeployment checks the operator's pod: probes, resources and a
// locked-down security context (non-root, read-only root filesystem, no
// privilege escalation, no capabilities, RuntimeDefault seccomp).
func TestManagerDeployment(t *testing.T) {
	dep := find[appsv1.Deployment](t, render(t, "default"), "Deployment", "plexus-operator")
	pod := dep.Spec.Template.Spec
	if pod.ServiceAccountName != "plexus-operator" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and seccomp RuntimeDefault", sc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the operator alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the operator container has no security context")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not true")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v: want all dropped", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccomp profile is not RuntimeDefault")
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v: want GET /healthz", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v: want GET /readyz", p)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if c.Image != "ghcr.io/plexus-mesh/plexus-operator:v"+install.Release {
		t.Errorf("image %s, want release %s", c.Image, install.Release)
	}
	if want := "--proxy-image=ghcr.io/plexus-mesh/plexus-proxy:v" + install.Release; !slices.Contains(c.Args, want) {
		t.Errorf("args %v lack %s", c.Args, want)
	}
}

// TestOperatorService checks that proxies, peers and Prometheus reach the
// operator: the Service's ports, and that the ServiceMonitor the operator
// makes selects it.
func TestOperatorService(t *testing.T) {
	objs := render(t, "default")
	svc := find[corev1.Service](t, objs, "Service", "plexus-operator")
	dep := find[appsv1.Deployment](t, objs, "Deployment", "plexus-operator")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the operator's pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
		found := false
		for _, cp := range dep.Spec.Template.Spec.Containers[0].Ports {
			found = found || cp.Name == p.TargetPort.String()
		}
		if !found {
			t.Errorf("Service port %s targets %s, which the container does not declare", p.Name, p.TargetPort.String())
		}
	}
	for name, want := range map[string]int32{"grpc-xds": 15010, "tls-ca": 15012, "tls-federation": 15017, "metrics": 8080} {
		if ports[name] != want {
			t.Errorf("Service port %s is %d, want %d", name, ports[name], want)
		}
	}
	sm := monitoring.ServiceMonitor(monitoring.StaticOptions())
	sel, err := metav1LabelSelector(sm.Spec.Selector.MatchLabels)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("the operator's ServiceMonitor selects %v; the Service has labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	for _, e := range sm.Spec.Endpoints {
		if _, ok := ports[e.Port]; !ok {
			t.Errorf("the ServiceMonitor scrapes port %q; the Service has %v", e.Port, ports)
		}
	}
}

func metav1LabelSelector(m map[string]string) (labels.Selector, error) {
	return labels.ValidatedSelectorFromSet(m)
}

// TestRBACLeastPrivilege: no role grants wildcards, and Prometheus may read
// the operator's metrics through plexus-metrics-reader.
func TestRBACLeastPrivilege(t *testing.T) {
	objs := render(t, "default")
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		role := find[rbacv1.ClusterRole](t, []*unstructured.Unstructured{o}, o.GetKind(), o.GetName())
		for _, r := range role.Rules {
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs} {
				if slices.Contains(list, "*") {
					t.Errorf("%s %s grants a wildcard: %+v", o.GetKind(), o.GetName(), r)
				}
			}
		}
	}
	reader := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "plexus-metrics-reader")
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if fmt.Sprint(reader.Rules) != fmt.Sprint(want) {
		t.Errorf("plexus-metrics-reader rules %+v, want %+v", reader.Rules, want)
	}
}
