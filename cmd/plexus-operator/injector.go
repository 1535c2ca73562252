package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/plexus-mesh/plexus/controllers"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/webhookcert"
)

// injectorConfig is the sidecar injector's part of the command line.
type injectorConfig struct {
	// Port serves the admission webhook; 0 turns injection off.
	Port int
	// Service is the name of the Service in front of the webhook, in the
	// operator's namespace.
	Service string
	// URL replaces Service for an operator running outside the cluster,
	// for example https://127.0.0.1:9443.
	URL string
	// CertDir, when set, holds the webhook's serving certificate (tls.crt,
	// tls.key), provided and renewed by someone else, such as OLM, who then
	// owns the MutatingWebhookConfiguration too: the operator neither makes
	// a certificate nor manages the configuration (ADR 0008).
	CertDir string
	// ProxyImage is injected unless the Mesh names another.
	ProxyImage string
	// ProxyXDSAddress is where injected proxies reach the control plane.
	// Unset: plexus-operator.<namespace>.svc:<xDS port>.
	ProxyXDSAddress string
	// ProxyCAAddress is where injected proxies obtain certificates.
	// Unset: plexus-operator.<namespace>.svc:<CA port>.
	ProxyCAAddress string
}

// proxyAddress is how injected proxies reach an operator endpoint that
// listens on listen, unless set says otherwise.
func proxyAddress(set, listen, namespace, flag string) (string, error) {
	if set != "" {
		return set, nil
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w; with a Unix socket, set the address proxies use explicitly", flag, listen, err)
	}
	return net.JoinHostPort("plexus-operator."+namespace+".svc", port), nil
}

const (
	webhookConfigName = "plexus-sidecar-injector"
	webhookSecretName = "plexus-webhook-cert"
)

// hosts are the names the API server reaches the webhook by.
func (c injectorConfig) hosts(namespace string) (webhookcert.Hosts, error) {
	if c.URL == "" {
		cfg := config{Namespace: namespace}
		return cfg.serviceHosts(c.Service), nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("--webhook-url %q: want https://HOST[:PORT], the address the API server reaches this operator on", c.URL)
	}
	return webhookcert.Hosts{u.Hostname()}, nil
}

// webhookServer is the manager's webhook server; its certificate comes
// from keeper, which setupInjector creates, or from the files in certDir
// (reloaded when they change).
func webhookServer(port int, certDir string, keeper **webhookcert.Keeper) webhook.Server {
	if certDir != "" {
		return webhook.NewServer(webhook.Options{Port: port, CertDir: certDir, TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
		}}})
	}
	return webhook.NewServer(webhook.Options{Port: port, TLSOpts: []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return (*keeper).GetCertificate(h) }
	}}})
}

// +kubebuilder:rbac:groups="",namespace=plexus-system,resources=secrets,verbs=get;create;update

// setupInjector adds the certificate keeper, the injection webhook and
// the reconciler of its MutatingWebhookConfiguration; with a certificate
// directory, only the webhook.
func setupInjector(mgr ctrl.Manager, cfg config, keeper **webhookcert.Keeper) error {
	ic := cfg.Injector
	xdsAddr, err := proxyAddress(ic.ProxyXDSAddress, cfg.XDSAddr, cfg.Namespace, "--xds-address")
	if err != nil {
		return err
	}
	caAddr, err := proxyAddress(ic.ProxyCAAddress, cfg.CAAddr, cfg.Namespace, "--ca-address")
	if err != nil {
		return err
	}
	excluded := cfg.excludedNamespaces()
	handler := &inject.Handler{
		Config:  controllers.InjectionConfig(mgr.GetClient(), ic.ProxyImage, xdsAddr, caAddr),
		Decoder: admission.NewDecoder(mgr.GetScheme()),
		Log:     ctrl.Log.WithName("injector"),
	}
	if ic.CertDir != "" {
		// The provided configuration cannot select namespaces: choose here.
		handler.Namespaces = controllers.InjectedNamespaces(mgr.GetClient(), mgr.GetAPIReader(), excluded)
	}
	mgr.GetWebhookServer().Register(inject.Path, &webhook.Admission{Handler: handler})
	if ic.CertDir != "" {
		return nil
	}
	hosts, err := ic.hosts(cfg.Namespace)
	if err != nil {
		return err
	}
	r := &controllers.InjectorReconciler{
		Client: mgr.GetClient(), Name: webhookConfigName, URL: ic.URL,
		Service:           &admissionregistrationv1.ServiceReference{Namespace: cfg.Namespace, Name: ic.Service, Port: ptr.To[int32](443)},
		ExcludeNamespaces: excluded,
	}
	*keeper = webhookcert.NewKeeper(webhookcert.Config{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(),
		Secret: client.ObjectKey{Namespace: cfg.Namespace, Name: webhookSecretName},
		Hosts:  hosts, Elected: mgr.Elected(), OnBundleChange: r.BundleChanged,
		Log: ctrl.Log.WithName("webhookcert"),
	})
	r.CABundle = (*keeper).CABundle
	if err := mgr.Add(*keeper); err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the injector controller: %w", err)
	}
	return nil
}
