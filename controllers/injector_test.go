package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/webhookcert"
)

func newNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func appPod(ns, name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Annotations: annotations,
			Labels:          map[string]string{"app": "reviews", "pod-template-hash": "5d8f7b"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "reviews-v1-5d8f7b", UID: "1", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "reviews",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "example.com/migrate"}},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/reviews", Ports: []corev1.ContainerPort{
				{Name: "http-web", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9090},
			}}},
		},
	}
}

// waitForWebhook waits until the webhook configuration exists, trusts
// the CA bundle the keeper serves with, and actually injects pods in the
// namespace "injected".
func waitForWebhook(t *testing.T) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	testenv.Eventually(t, "webhook configuration with the current CA bundle", func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: webhookName}, cfg); err != nil {
			return err
		}
		if got := cfg.Webhooks[0].ClientConfig.CABundle; len(got) == 0 || !bytes.Equal(got, injector.keeper.CABundle()) {
			return errors.New("caBundle is not the keeper's")
		}
		return nil
	})
	testenv.Eventually(t, "a pod is injected", func() error {
		pod := appPod("injected", "", nil)
		pod.GenerateName = "probe-"
		if err := env.Client.Create(context.Background(), pod); err != nil {
			return err
		}
		defer func() { _ = env.Client.Delete(context.Background(), pod) }()
		if pod.Annotations[inject.AnnotationInjected] == "" {
			return errors.New("the pod came back without a proxy")
		}
		if pod.Labels[inject.LabelProxy] != "true" {
			return fmt.Errorf("pod not labelled %s for the PodMonitor: %v", inject.LabelProxy, pod.Labels)
		}
		return nil
	})
	return cfg
}

func TestInjectorWebhook(t *testing.T) {
	ctx := context.Background()
	newNamespace(t, "injected", map[string]string{"mesh.plexus.dev/inject": "enabled"})
	newNamespace(t, "legacy", nil)
	mesh := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "injector"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}}
	if err := env.Client.Create(ctx, mesh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, mesh) })
	cfg := waitForWebhook(t)
	if sel := cfg.Webhooks[0].NamespaceSelector; sel.MatchLabels["mesh.plexus.dev/inject"] != "enabled" ||
		len(sel.MatchExpressions) != 1 || !slices.Equal(sel.MatchExpressions[0].Values, []string{operatorNamespace, "kube-system"}) {
		t.Errorf("namespace selector %+v: want the Mesh's labels, excluding the operator and system namespaces", sel)
	}

	t.Run("injected through the API server", func(t *testing.T) {
		pod := appPod("injected", "reviews-v1-abc", nil)
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, c := range pod.Spec.InitContainers {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{inject.InitContainer, inject.ProxyContainer, "migrate"}) {
			t.Fatalf("init containers %v: want the iptables init, then the proxy, then the app's own", names)
		}
		proxy := pod.Spec.InitContainers[1]
		if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Error("the proxy is not a native sidecar (restartPolicy Always)")
		}
		args := strings.Join(proxy.Args, " ")
		for _, want := range []string{"--workload=reviews-v1", "--cluster=east", "--service-account=reviews", "--app-ports=8080/http,9090/grpc",
			"--xds-address=" + testXDSAddress, "--ca-address=" + testCAAddress, "--credential-file=" + inject.TokenDir + "/token"} {
			if !strings.Contains(args, want) {
				t.Errorf("proxy args %q lack %s", args, want)
			}
		}
		if proxy.Image != testProxyImage || pod.Spec.InitContainers[0].Image != testProxyImage {
			t.Errorf("images %s, %s: want the operator's default %s", proxy.Image, pod.Spec.InitContainers[0].Image, testProxyImage)
		}
		var token *corev1.ServiceAccountTokenProjection
		for _, v := range pod.Spec.Volumes {
			if v.Name == inject.TokenVolume && v.Projected != nil {
				token = v.Projected.Sources[0].ServiceAccountToken
			}
		}
		if token == nil || token.Audience != inject.TokenAudience {
			t.Errorf("no projected ServiceAccount token with audience %q", inject.TokenAudience)
		}
	})

	t.Run("the CA roots are published where proxies run", func(t *testing.T) {
		// Injected namespaces, and the operator's, for its east-west
		// gateway.
		for _, ns := range []string{"injected", operatorNamespace} {
			testenv.Eventually(t, "plexus-ca-root in namespace "+ns, func() error {
				cm := &corev1.ConfigMap{}
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: inject.CARootConfigMap}, cm); err != nil {
					return err
				}
				if cm.Data[inject.CARootKey] != testRoots {
					return fmt.Errorf("data %v", cm.Data)
				}
				return nil
			})
		}
		for _, ns := range []string{"legacy", "kube-system"} {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: inject.CARootConfigMap}, &corev1.ConfigMap{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s, not injected, has the roots ConfigMap: %v", ns, err)
			}
		}
	})

	t.Run("opted out", func(t *testing.T) {
		pod := appPod("injected", "batch", map[string]string{inject.AnnotationInject: "false"})
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.InitContainers) != 1 || pod.Annotations[inject.AnnotationInjected] != "" {
			t.Fatal("an opted-out pod was injected")
		}
	})

	t.Run("namespace not selected", func(t *testing.T) {
		pod := appPod("legacy", "old", nil)
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.InitContainers) != 1 {
			t.Fatal("a pod of an unlabelled namespace was injected")
		}
	})

	t.Run("bad annotations are refused with what to fix", func(t *testing.T) {
		pod := appPod("injected", "bad", map[string]string{
			inject.AnnotationAppPorts:             "8080/websocket",
			inject.AnnotationExcludeOutboundCIDRs: "10.0.0.0",
			inject.AnnotationInject:               "yes",
		})
		err := env.Client.Create(ctx, pod)
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create: %v, want the webhook to deny it", err)
		}
		for _, want := range []string{
			`protocol "websocket" is not one of http, http2, grpc, tcp`,
			`"10.0.0.0" is not a CIDR`,
			`mesh.plexus.dev/inject is "yes": use "false"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not say %q", err, want)
			}
		}
	})

	t.Run("the Mesh's proxy image applies to new pods", func(t *testing.T) {
		updateMesh(t, mesh.Name, func(m *meshv1.Mesh) { m.Spec.Injection.ProxyImage = "example.com/plexus-proxy:v2" })
		testenv.Eventually(t, "new image injected", func() error {
			pod := appPod("injected", "", nil)
			pod.GenerateName = "v2-"
			if err := env.Client.Create(ctx, pod); err != nil {
				return err
			}
			if img := pod.Spec.InitContainers[1].Image; img != "example.com/plexus-proxy:v2" {
				return fmt.Errorf("proxy image %s", img)
			}
			return nil
		})
	})

	t.Run("caBundle edits are reverted", func(t *testing.T) {
		patch := client.MergeFrom(cfg.DeepCopy())
		cfg.Webhooks[0].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----\nbogus\n-----END CERTIFICATE-----\n")
		if err := env.Client.Patch(ctx, cfg, patch); err != nil {
			t.Fatal(err)
		}
		waitForWebhook(t)
	})

	t.Run("serving certificate and CA rotation", func(t *testing.T) {
		// Material whose serving certificate is due: the keeper renews it
		// under the same CA.
		before := replaceWebhookMaterial(t, time.Now().Add(-25*24*time.Hour))
		after := waitForRenewal(t, before)
		if !after.CAs[0].Equal(before.CAs[0]) {
			t.Error("renewing the serving certificate replaced the CA")
		}
		waitForWebhook(t)

		// Material whose CA is due: a new CA, the old one kept in the
		// bundle, and the webhook configuration trusts both.
		before = replaceWebhookMaterial(t, time.Now().Add(-300*24*time.Hour))
		after = waitForRenewal(t, before)
		if after.CAs[0].Equal(before.CAs[0]) || len(after.CAs) != 2 {
			t.Errorf("after CA rotation the bundle holds %d CAs; want the new and the old", len(after.CAs))
		}
		waitForWebhook(t)
	})

	t.Run("no Mesh, no webhook and no roots", func(t *testing.T) {
		if err := env.Client.Delete(ctx, mesh); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "roots ConfigMap removed", func() error {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: "injected", Name: inject.CARootConfigMap}, &corev1.ConfigMap{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %w", err)
		})
		testenv.Eventually(t, "webhook configuration removed", func() error {
			err := env.Client.Get(ctx, client.ObjectKey{Name: webhookName}, &admissionregistrationv1.MutatingWebhookConfiguration{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %w", err)
		})
	})
}

// replaceWebhookMaterial writes material made at issued into the
// webhook's Secret, as if the operator had been away since.
func replaceWebhookMaterial(t *testing.T, issued time.Time) *webhookcert.Material {
	t.Helper()
	m, err := webhookcert.Renew(nil, webhookcert.Hosts{"127.0.0.1"}, issued)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Data()
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), webhookSecret, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = data
	if err := env.Client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return m
}

func waitForRenewal(t *testing.T, old *webhookcert.Material) *webhookcert.Material {
	t.Helper()
	var m *webhookcert.Material
	testenv.Eventually(t, "renewed webhook material", func() error {
		secret := &corev1.Secret{}
		if err := env.Client.Get(context.Background(), webhookSecret, secret); err != nil {
			return err
		}
		var err error
		if m, err = webhookcert.Parse(secret.Data); err != nil {
			return err
		}
		if m.Cert.Leaf.Equal(old.Cert.Leaf) {
			return errors.New("not renewed yet")
		}
		if reason := webhookcert.Renewal(m, webhookcert.Hosts{"127.0.0.1"}, time.Now()); reason != "" {
			return errors.New(reason)
		}
		return nil
	})
	return m
}
