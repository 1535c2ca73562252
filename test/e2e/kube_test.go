package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/testenv/netlab"
)

// kubePlane is the operator against a real API server: configuration is
// objects, and endpoints are EndpointSlices the test writes as the
// endpoint slice controller would.
type kubePlane struct {
	c       client.Client
	applied map[string]*unstructured.Unstructured
	pods    []*corev1.Pod
}

func (k *kubePlane) apply(t *testing.T, name, doc string) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatal(err)
	}
	if err := k.c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	k.applied[name] = obj
	// Users see that it is applied in its status.
	testenv.Eventually(t, name+" accepted", func() error { return accepted(k.c, obj) })
}

// accepted checks that obj's status says it applies: Accepted=True on a
// route's parent (status.parents), a policy's target (status.ancestors)
// or the object itself (status.conditions); Ready=True for a Mesh.
func accepted(c client.Client, obj *unstructured.Unstructured) error {
	got := obj.DeepCopy()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
		return err
	}
	want := "Accepted"
	if got.GetKind() == "Mesh" {
		want = "Ready"
	}
	var lists [][]any
	for _, field := range []string{"parents", "ancestors"} {
		entries, _, _ := unstructured.NestedSlice(got.Object, "status", field)
		for _, entry := range entries {
			conds, _, _ := unstructured.NestedSlice(entry.(map[string]any), "conditions")
			lists = append(lists, conds)
		}
	}
	own, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	for _, conds := range append(lists, own) {
		for _, c := range conds {
			if cond := c.(map[string]any); cond["type"] == want && cond["status"] == "True" {
				return nil
			}
		}
	}
	return fmt.Errorf("no %s=True condition in status: %v", want, got.Object["status"])
}

func (k *kubePlane) remove(t *testing.T, name string) {
	t.Helper()
	if err := k.c.Delete(context.Background(), k.applied[name]); err != nil {
		t.Fatal(err)
	}
}

// dropInstance deletes the pod, and its address leaves the service's
// EndpointSlices.
func (k *kubePlane) dropInstance(t *testing.T, i int) {
	t.Helper()
	ctx := context.Background()
	gone := k.pods[1+i]
	if err := k.c.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	var slices discoveryv1.EndpointSliceList
	if err := k.c.List(ctx, &slices, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	for _, s := range slices.Items {
		kept := s.Endpoints[:0]
		for _, e := range s.Endpoints {
			if e.TargetRef.Name != gone.Name {
				kept = append(kept, e)
			}
		}
		s.Endpoints = kept
		if err := k.c.Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKubernetesEndToEnd runs the scenario against the operator and a real
// API server: pods, Services and EndpointSlices are objects, proxies prove
// who they are with projected ServiceAccount tokens.
func TestKubernetesEndToEnd(t *testing.T) {
	m := newMeshLab(t)
	gatewayCRDs, err := testenv.GatewayAPICRDs()
	if err != nil {
		t.Fatal(err)
	}
	env, err := testenv.Start(gatewayCRDs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c := env.Client
	for _, ns := range []string{"plexus-system", "shop"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(m.dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(m.dir, "operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	op := exec.CommandContext(ctx, bin.operator, "--kubeconfig", kubeconfig, "--namespace", "plexus-system",
		"--xds-address", m.xds, "--ca-address", m.ca, "--ca-hosts", "localhost", "--webhook-port", "0",
		"--metrics-bind-address", "0", "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		"--dashboard-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	op.Stdout, op.Stderr = logFile, logFile
	if err := op.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Process.Kill(); _ = op.Wait() })
	m.openSockets(t)

	cp := &kubePlane{c: c, applied: map[string]*unstructured.Unstructured{}}
	cp.apply(t, "mesh", "apiVersion: mesh.plexus.dev/v1alpha1\nkind: Mesh\nmetadata: {name: e2e}\nspec: {clusterName: e2e, trustDomain: e2e.example}\n")
	caSecret := &corev1.Secret{}
	testenv.Eventually(t, "the CA Secret", func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: "plexus-system", Name: "plexus-ca"}, caSecret)
	})
	rootFile := m.file(t, "root.pem", caSecret.Data["ca.crt"])

	token := func(sa string) string {
		acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: sa}}
		if err := c.Create(ctx, acct); err != nil {
			t.Fatal(err)
		}
		req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"plexus"}, ExpirationSeconds: ptr.To[int64](3600)}}
		if err := c.SubResource("token").Create(ctx, acct, req); err != nil {
			t.Fatal(err)
		}
		return m.file(t, sa+".token", []byte(req.Status.Token))
	}
	clientToken, reviewsToken := token("client"), token("reviews")

	vip := ""
	for _, svc := range []struct{ name, version string }{{"reviews", ""}, {"reviews-v1", "v1"}, {"reviews-v2", "v2"}} {
		selector := map[string]string{"app": "reviews"}
		if svc.version != "" {
			selector["version"] = svc.version
		}
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: svc.name},
			Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
			}},
		}
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if svc.name == "reviews" {
			vip = s.Spec.ClusterIP
		}
	}
	cp.pods = []*corev1.Pod{
		createPod(t, c, "client-0", "client", m.client, map[string]string{"app": "client"}),
		createPod(t, c, "reviews-1", "reviews", m.reviews[0], map[string]string{"app": "reviews", "version": "v1"}),
		createPod(t, c, "reviews-2", "reviews", m.reviews[1], map[string]string{"app": "reviews", "version": "v2"}),
	}
	endpointSlice(t, c, "reviews", cp.pods[1], cp.pods[2])
	endpointSlice(t, c, "reviews-v1", cp.pods[1])
	endpointSlice(t, c, "reviews-v2", cp.pods[2])

	m.startProxy(t, proxySpec{pod: m.client, node: "client-0.shop", workload: "client", sa: "client", rootCA: rootFile, credential: clientToken})
	for i, pod := range m.reviews {
		m.startProxy(t, proxySpec{pod: pod, node: fmt.Sprintf("reviews-%d.shop", i+1), workload: "reviews", sa: "reviews",
			appPorts: "8080/http", rootCA: rootFile, credential: reviewsToken})
	}
	runScenario(t, m, cp, vip)
}

// createPod creates a running pod with the lab pod's address, as the
// kubelet would report it.
func createPod(t *testing.T, c client.Client, name, sa string, lab *netlab.Pod, labels map[string]string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "example.com/app"}}},
	}
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: lab.IP, PodIPs: []corev1.PodIP{{IP: lab.IP}}}
	if err := c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func endpointSlice(t *testing.T, c client.Client, service string, pods ...*corev1.Pod) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: service + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, p := range pods {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{p.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: p.Name},
		})
	}
	if err := c.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}
