package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/webhookcert"
)

// writeServingCert writes a new CA's serving certificate for 127.0.0.1
// into dir as OLM mounts one (tls.crt, tls.key) and returns the CA bundle.
func writeServingCert(t *testing.T, dir string) (*webhookcert.Material, []byte) {
	t.Helper()
	m, err := webhookcert.Renew(nil, webhookcert.Hosts{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Data()
	if err != nil {
		t.Fatal(err)
	}
	// The key first: a watcher that sees the new certificate must find
	// its key already there.
	for _, key := range []string{webhookcert.KeyKey, webhookcert.KeyCert} {
		tmp := filepath.Join(dir, "."+key)
		if err := os.WriteFile(tmp, data[key], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, key)); err != nil {
			t.Fatal(err)
		}
	}
	return m, data[webhookcert.KeyCABundle]
}

// servedCertificate is the certificate the webhook port presents.
func servedCertificate(addr string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := (&tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// TestWebhookWithProvidedCertificate runs the operator as the OLM bundle
// does (--webhook-cert-dir): it serves the webhook with the certificate in
// the directory and follows its renewal, makes neither a certificate
// Secret nor a MutatingWebhookConfiguration, and, since the configuration
// OLM makes sends every namespace's pods, injects only those of the
// namespaces the Mesh selects.
func TestWebhookWithProvidedCertificate(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()

	certDir := t.TempDir()
	first, caBundle := writeServingCert(t, certDir)
	probeAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	webhookPort := testenv.FreePort(t)
	namespace := defaultConfig().Namespace
	for name, labels := range map[string]map[string]string{
		namespace: {inject.AnnotationInject: "enabled"}, // the operator's own: never injected
		"meshed":  {inject.AnnotationInject: "enabled"},
		"plain":   nil,
	} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	operator := startOperatorProcess(t, "--kubeconfig="+kubeconfig, "--namespace="+namespace,
		"--health-probe-bind-address="+probeAddr, "--metrics-bind-address=0",
		fmt.Sprintf("--xds-address=127.0.0.1:%d", testenv.FreePort(t)), fmt.Sprintf("--ca-address=127.0.0.1:%d", testenv.FreePort(t)),
		fmt.Sprintf("--webhook-port=%d", webhookPort), "--webhook-cert-dir="+certDir)

	createReadyMesh(ctx, t, env.Client)
	waitReadyz(t, probeAddr)

	webhookAddr := fmt.Sprintf("127.0.0.1:%d", webhookPort)
	roots := x509.NewCertPool()
	roots.AddCert(first.CAs[0])
	testenv.Eventually(t, "the webhook serves the provided certificate", func() error {
		got, err := servedCertificate(webhookAddr, roots)
		if err == nil && !got.Equal(first.Cert.Leaf) {
			err = fmt.Errorf("served certificate %s, want the provided %s", got.SerialNumber, first.Cert.Leaf.SerialNumber)
		}
		return err
	})

	// What OLM makes from the bundle's webhook definition: no namespace
	// selector, no match conditions.
	path := inject.Path
	olm := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "olm-inject"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "inject.mesh.plexus.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + webhookAddr + path), CABundle: caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := env.Client.Create(ctx, olm); err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"meshed": true, "plain": false, namespace: false} {
		testenv.Eventually(t, "pod in "+ns, func() error {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
				Spec:       corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app", Image: "example.com/app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			}
			if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
				return err
			}
			if got := len(pod.Spec.InitContainers) > 0; got != want {
				return fmt.Errorf("injected: %v, want %v (init containers %d)", got, want, len(pod.Spec.InitContainers))
			}
			return nil
		})
	}

	// The operator left the configuration and the certificate to OLM.
	if err := env.Client.Get(ctx, client.ObjectKey{Name: webhookConfigName}, &admissionregistrationv1.MutatingWebhookConfiguration{}); !apierrors.IsNotFound(err) {
		t.Errorf("the operator made its own webhook configuration (get: %v)", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: webhookSecretName}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the operator made its own webhook certificate (get: %v)", err)
	}

	// OLM renews the certificate in the mounted Secret: served from then on.
	second, _ := writeServingCert(t, certDir)
	roots.AddCert(second.CAs[0])
	testenv.Eventually(t, "the webhook serves the renewed certificate", func() error {
		got, err := servedCertificate(webhookAddr, roots)
		if err == nil && !got.Equal(second.Cert.Leaf) {
			err = fmt.Errorf("still serving %s", got.SerialNumber)
		}
		return err
	})

	operator.stop(t)
}

// The operator runs in a process of its own: run registers its metrics
// with controller-runtime's global registry, which allows one operator per
// process, and TestOperatorServesProbesMetricsAndReconciles has that one.
const operatorArgsEnv = "PLEXUS_TEST_OPERATOR_ARGS"

// TestHelperOperatorProcess is not a test: it is the operator process
// that startOperatorProcess runs (this test binary, with the operator's
// arguments in the environment).
func TestHelperOperatorProcess(t *testing.T) {
	args := os.Getenv(operatorArgsEnv)
	if args == "" {
		t.Skip("the operator process of other tests")
	}
	cmd := newRootCommand()
	cmd.SetArgs(strings.Split(args, "\n"))
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

type operatorProcess struct {
	cmd    *exec.Cmd
	output *bytes.Buffer
	exited chan struct{} // closed once err is set
	err    error
}

func startOperatorProcess(t *testing.T, args ...string) *operatorProcess {
	t.Helper()
	p := &operatorProcess{output: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.CommandContext(context.Background(), os.Args[0], "-test.run=^TestHelperOperatorProcess$")
	p.cmd.Env = append(os.Environ(), operatorArgsEnv+"="+strings.Join(args, "\n"))
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("operator output:\n%s", p.output)
		}
	})
	return p
}

// stop ends the operator as the kubelet does (SIGTERM) and expects a
// clean exit.
func (p *operatorProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("the operator exited with %v", p.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the operator did not stop within 60s of SIGTERM")
	}
}
