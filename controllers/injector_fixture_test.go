package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/webhookcert"
)

const (
	operatorNamespace = "plexus-system"
	webhookName       = "plexus-sidecar-injector"
	testProxyImage    = "example.com/plexus-proxy:test"
	testXDSAddress    = "plexus-operator.plexus-system.svc:15010"
	testCAAddress     = "plexus-operator.plexus-system.svc:15012"
	testRoots         = "-----BEGIN CERTIFICATE-----\ntest root\n-----END CERTIFICATE-----\n"
)

var webhookSecret = client.ObjectKey{Namespace: operatorNamespace, Name: "plexus-webhook-cert"}

// injectorFixture runs the injector as the operator does: a webhook
// server on a local port, the certificate keeper, and the reconciler that
// points the API server at the webhook by URL.
type injectorFixture struct {
	port   int
	server webhook.Server
	keeper *webhookcert.Keeper
}

var injector *injectorFixture

func newInjectorFixture() (*injectorFixture, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &injectorFixture{port: ln.Addr().(*net.TCPAddr).Port}
	_ = ln.Close()
	f.server = webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: f.port, TLSOpts: []func(*tls.Config){
		func(c *tls.Config) { c.GetCertificate = f.getCertificate },
	}})
	injector = f
	return f, nil
}

func (f *injectorFixture) getCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.keeper.GetCertificate(h)
}

func (f *injectorFixture) setup(mgr ctrl.Manager) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		return err
	}
	r := &InjectorReconciler{
		Client: mgr.GetClient(), Name: webhookName,
		URL:               fmt.Sprintf("https://127.0.0.1:%d", f.port),
		ExcludeNamespaces: []string{operatorNamespace, "kube-system"},
	}
	f.keeper = webhookcert.NewKeeper(webhookcert.Config{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Secret: webhookSecret,
		Hosts: webhookcert.Hosts{"127.0.0.1"}, Interval: time.Second,
		OnBundleChange: r.BundleChanged, Log: log.Log.WithName("webhookcert"),
	})
	r.CABundle = f.keeper.CABundle
	if err := mgr.Add(f.keeper); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(inject.Path, &webhook.Admission{Handler: &inject.Handler{
		Config:  InjectionConfig(mgr.GetClient(), testProxyImage, testXDSAddress, testCAAddress),
		Decoder: admission.NewDecoder(mgr.GetScheme()),
		Log:     log.Log.WithName("injector"),
	}})
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	return (&CARootReconciler{
		Client: mgr.GetClient(), Roots: func() []byte { return []byte(testRoots) }, Injection: true, OwnNamespace: operatorNamespace,
		ExcludeNamespaces: []string{operatorNamespace, "kube-system"},
	}).SetupWithManager(mgr)
}
