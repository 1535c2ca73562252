package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// TestOperatorServesProbesMetricsAndReconciles runs the operator as main
// would, against a real API server, and stops it cleanly.
func TestOperatorServesProbesMetricsAndReconciles(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	cfg := defaultConfig()
	cfg.ProbeAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.XDSAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.CAAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.DashboardAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.LeaderElect, cfg.LeaderElectionNamespace = true, "default"
	cfg.Injector.Port = testenv.FreePort(t)
	cfg.Injector.URL = fmt.Sprintf("https://127.0.0.1:%d", cfg.Injector.Port)
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env.Config, cfg) }()
	t.Cleanup(cancel)

	waitReadyz(t, cfg.ProbeAddr)
	if code, body, err := testenv.Get("http://" + cfg.ProbeAddr + "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz: %d %s %v", code, body, err)
	}

	createReadyMesh(ctx, t, env.Client)
	testenv.Eventually(t, "reconcile metrics", func() error {
		_, body, err := testenv.Get("http://" + cfg.MetricsAddr + "/metrics")
		if err == nil && !strings.Contains(body, `controller_runtime_reconcile_total{controller="mesh",result="success"}`) {
			err = fmt.Errorf("no successful mesh reconcile counted yet")
		}
		return err
	})

	// The injector's webhook is registered, trusting the certificate the
	// operator made for itself.
	testenv.Eventually(t, "injector webhook configuration", func() error {
		hook := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: webhookConfigName}, hook); err != nil {
			return err
		}
		if len(hook.Webhooks[0].ClientConfig.CABundle) == 0 || *hook.Webhooks[0].ClientConfig.URL != cfg.Injector.URL+"/inject-pod" {
			return fmt.Errorf("client config %+v", hook.Webhooks[0].ClientConfig)
		}
		return nil
	})

	// The xDS server is up for proxies.
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.XDSAddr)
	if err != nil {
		t.Fatalf("xDS port: %v", err)
	}
	conn.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("operator stopped with an error: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("operator did not stop after its context was cancelled")
	}
}
