package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"

	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/controllers"
	"github.com/plexus-mesh/plexus/internal/federation"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/identity/kube"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/version"
	"github.com/plexus-mesh/plexus/internal/webhookcert"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// config is everything the operator takes from its command line.
type config struct {
	// MetricsAddr serves Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// MetricsSecure serves metrics over HTTPS and requires callers to be
	// authenticated and authorized (TokenReview and SubjectAccessReview).
	MetricsSecure bool
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
	// LeaderElect makes only one replica of several reconcile at a time.
	LeaderElect bool
	// LeaderElectionNamespace holds the leader Lease. Unset: the namespace
	// the operator runs in.
	LeaderElectionNamespace string
	// XDSAddr serves the aggregated xDS API to proxies.
	XDSAddr string
	// XDSMode is "strict" (proxies present their workload certificates)
	// or "permissive" (plaintext too, for proxies without one).
	XDSMode string
	// CAAddr serves the certificate service (TLS) to proxies.
	CAAddr string
	// CAHosts are more names the certificate service's TLS certificate
	// carries, besides plexus-operator.<namespace>.svc.
	CAHosts []string
	// FederationAddr serves the federation API to peers' operators, and
	// BundleAddr the SPIFFE bundle endpoint; "" turns them off.
	FederationAddr, BundleAddr string
	// FederationTarget is where the east-west gateway forwards peers'
	// connections to the federation API; see federationTarget.
	FederationTarget string
	// AdvertiseGateways are this cluster's east-west gateway addresses,
	// sent to peers with the exports.
	AdvertiseGateways []string
	// CADir keeps the CA's root and key in local mode. Unset: .ca in the
	// configuration directory.
	CADir string
	// Namespace is the operator's own namespace: its Secrets live there
	// and its pods are never injected.
	Namespace string
	// Injector configures sidecar injection.
	Injector injectorConfig
	// DashboardAddr serves the mesh dashboard and the API plexctl reads;
	// "0" turns it off.
	DashboardAddr string
	// PrometheusURL is where the dashboard reads signals; "" makes the
	// control plane scrape the proxies itself.
	PrometheusURL string
	// DashboardHosts are host names the dashboard answers to besides
	// loopback ones.
	DashboardHosts []string
}

func defaultConfig() config {
	return config{
		MetricsAddr: ":8080", ProbeAddr: ":8081", XDSAddr: ":15010", XDSMode: xdsStrict, CAAddr: ":15012", Namespace: "plexus-system", DashboardAddr: "127.0.0.1:15080",
		Injector: injectorConfig{Port: 9443, Service: "plexus-operator-webhook", ProxyImage: "ghcr.io/plexus-mesh/plexus-proxy:" + version.Get().ImageTag()},
	}
}

func (c *config) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", c.MetricsAddr, `address to serve Prometheus metrics on; "0" turns metrics off`)
	fs.BoolVar(&c.MetricsSecure, "metrics-secure", c.MetricsSecure, "serve metrics over HTTPS to authenticated, authorized callers only")
	fs.StringVar(&c.ProbeAddr, "health-probe-bind-address", c.ProbeAddr, "address to serve /healthz and /readyz on")
	fs.BoolVar(&c.LeaderElect, "leader-elect", c.LeaderElect, "elect a leader so that only one of several replicas reconciles")
	fs.StringVar(&c.XDSAddr, "xds-address", c.XDSAddr, "address to serve xDS (ADS over gRPC) to proxies on: host:port, or unix:///path")
	fs.StringVar(&c.XDSMode, "xds-mtls-mode", c.XDSMode, `"strict": serve xDS over mutual TLS only, where each proxy presents its workload certificate and gets the configuration of that identity only; "permissive": take plaintext xDS on the same port too, for proxies that hold no certificate from the mesh CA (SPIRE identities, static certificates)`)
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", c.LeaderElectionNamespace, "namespace of the leader election Lease (default: the operator's namespace)")
	fs.StringVar(&c.CAAddr, "ca-address", c.CAAddr, "address to serve the certificate service (gRPC over TLS) to proxies on: host:port, or unix:///path")
	fs.StringSliceVar(&c.CAHosts, "ca-hosts", c.CAHosts, "more host names or IPs in the TLS certificate of the certificate service and xDS, for proxies that reach them by another name")
	fs.StringVar(&c.FederationAddr, "federation-address", c.FederationAddr, "address to serve the federation API (gRPC, mTLS) to peers' operators on; empty: off")
	fs.StringVar(&c.BundleAddr, "bundle-address", c.BundleAddr, "address to serve this trust domain's SPIFFE bundle endpoint (https_spiffe, path /bundle) on; empty: off")
	fs.StringVar(&c.FederationTarget, "federation-gateway-target", "", "IP:port the east-west gateway forwards peers' federation connections to, such as the operator Service's cluster IP and federation port (default: --federation-address when it names an IP; else the gateway does not carry the federation API)")
	fs.StringSliceVar(&c.AdvertiseGateways, "advertise-gateway", nil, "this cluster's east-west gateway address (IP:port) sent to peers with the exports; repeat for several")
	fs.StringVar(&c.DashboardAddr, "dashboard-address", c.DashboardAddr, `address to serve the mesh dashboard and the API plexctl reads on (read-only; reach it with kubectl port-forward); "0" turns it off`)
	fs.StringSliceVar(&c.DashboardHosts, "dashboard-allowed-hosts", c.DashboardHosts, "host names the dashboard answers to besides localhost and loopback addresses, such as the name of an Ingress in front of it")
	fs.StringVar(&c.PrometheusURL, "prometheus-url", c.PrometheusURL, "Prometheus the dashboard reads signals from, such as http://prometheus.monitoring:9090; empty: the control plane scrapes the proxies itself")
	fs.StringVar(&c.CADir, "ca-dir", c.CADir, "local mode: directory keeping the CA's root, key and join token key (default: .ca in the --local directory)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "the operator's namespace: it keeps its Secrets there and never injects its pods (in a pod, set it from the downward API)")
	fs.IntVar(&c.Injector.Port, "webhook-port", c.Injector.Port, "port of the sidecar injection webhook; 0 turns injection off")
	fs.StringVar(&c.Injector.Service, "webhook-service", c.Injector.Service, "Service in the operator's namespace that the API server calls the webhook through (port 443)")
	fs.StringVar(&c.Injector.CertDir, "webhook-cert-dir", c.Injector.CertDir, "serve the webhook with tls.crt and tls.key from this directory, reloaded when they change, and leave the MutatingWebhookConfiguration to whoever provides them (OLM mounts them at /tmp/k8s-webhook-server/serving-certs); default: the operator makes its own certificate and configuration")
	fs.StringVar(&c.Injector.URL, "webhook-url", c.Injector.URL, "call the webhook at this https URL instead of through --webhook-service (an operator outside the cluster)")
	fs.StringVar(&c.Injector.ProxyImage, "proxy-image", c.Injector.ProxyImage, "sidecar image injected unless the Mesh sets injection.proxyImage")
	fs.StringVar(&c.Injector.ProxyCAAddress, "proxy-ca-address", c.Injector.ProxyCAAddress, "certificate service address injected proxies dial (default plexus-operator.<namespace>.svc:<CA port>)")
	fs.StringVar(&c.Injector.ProxyXDSAddress, "proxy-xds-address", c.Injector.ProxyXDSAddress, "control plane address injected proxies dial (default plexus-operator.<namespace>.svc:<xDS port>)")
}

// caSecretName holds the mesh CA in the operator's namespace.
const caSecretName = "plexus-ca"

// federationTarget is where the gateway reaches the federation API: the
// --federation-gateway-target, or the --federation-address when it names
// an IP; "" (the gateway does not carry the federation API) otherwise.
func (c *config) federationTarget() string {
	if c.FederationAddr == "" || c.FederationTarget != "" {
		return c.FederationTarget
	}
	host, _, err := net.SplitHostPort(c.FederationAddr)
	if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return ""
	}
	return c.FederationAddr
}

// controlPlaneHosts are the names in the TLS certificate of the
// certificate service and xDS: the operator Service's, the IPs they
// listen on, and --ca-hosts.
func (c *config) controlPlaneHosts() []string {
	return slices.Concat(c.serviceHosts("plexus-operator"), listenHosts(c.XDSAddr, c.CAAddr), c.CAHosts)
}

// gatewayAccount is the service account of the east-west gateway, the
// only one that may claim the gateway role at the control plane.
func (c *config) gatewayAccount() model.NamespacedName {
	return model.NamespacedName{Namespace: c.Namespace, Name: controllers.GatewayName}
}

// validateXDSMode checks --xds-mtls-mode.
func (c *config) validateXDSMode() error {
	if c.XDSMode != xdsStrict && c.XDSMode != xdsPermissive {
		return fmt.Errorf("--xds-mtls-mode %q: use %q (proxies present their workload certificates) or %q (plaintext proxies too)", c.XDSMode, xdsStrict, xdsPermissive)
	}
	return nil
}

// excludedNamespaces never get sidecars: the operator's own and the
// system ones.
func (c *config) excludedNamespaces() []string {
	return []string{c.Namespace, "kube-system", "kube-public", "kube-node-lease"}
}

// serviceHosts are the DNS names of a Service in the operator's namespace.
func (c *config) serviceHosts(service string) []string {
	svc := service + "." + c.Namespace + ".svc"
	return []string{svc, svc + ".cluster.local"}
}

// The Secret identity.builtin.rootCASecretRef names may be in any namespace.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=plexus-system,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// run starts the manager and blocks until ctx is done.
func run(ctx context.Context, restConfig *rest.Config, cfg config) error {
	log := ctrl.Log.WithName("setup")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := meshv1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := mcsv1a1.Install(scheme); err != nil {
		return err
	}
	if err := gwapiv1.Install(scheme); err != nil {
		return err
	}
	metrics := metricsserver.Options{BindAddress: cfg.MetricsAddr, SecureServing: cfg.MetricsSecure}
	if cfg.MetricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	var keeper *webhookcert.Keeper
	webhookPort := cfg.Injector.Port
	if webhookPort == 0 {
		webhookPort = -1 // controller-runtime's "off"
	}
	// The operator's own ConfigMaps (and monitoring objects) are all it
	// reads; caching every one in the cluster would cost memory for nothing.
	byObject := map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": "plexus-operator"})},
	}
	httpClient, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(restConfig, httpClient)
	if err != nil {
		return fmt.Errorf("discovering the API server's resources: %w", err)
	}
	maps.Copy(byObject, controllers.MonitoringCache(mapper))
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		WebhookServer:           webhookServer(webhookPort, cfg.Injector.CertDir, &keeper),
		Cache:                   cache.Options{ByObject: byObject},
		Scheme:                  scheme,
		Metrics:                 metrics,
		HealthProbeBindAddress:  cfg.ProbeAddr,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        "plexus-operator.mesh.plexus.dev",
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		// The manager cancels its context on SIGTERM; releasing the lease
		// then lets a new replica take over at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	slogger := slog.New(logr.ToSlogHandler(ctrl.Log))
	server := ads.New(ads.Config{Log: slogger.With("component", "xds"), Registerer: ctrlmetrics.Registry, RequireIdentity: cfg.XDSMode == xdsStrict, Gateway: cfg.gatewayAccount()})
	if err := (&controllers.MeshReconciler{Client: mgr.GetClient(), Proxies: server}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Mesh controller: %w", err)
	}
	metricsServing := monitoring.MetricsHTTP
	switch {
	case cfg.MetricsAddr == "0":
		metricsServing = monitoring.MetricsOff
	case cfg.MetricsSecure:
		metricsServing = monitoring.MetricsHTTPS
	}
	if err := (&controllers.MonitoringReconciler{Client: mgr.GetClient(), Namespace: cfg.Namespace, Mapper: mgr.GetRESTMapper(), Cache: mgr.GetCache(), Metrics: metricsServing}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the monitoring controller: %w", err)
	}
	elected := mgr.Elected()
	leader := func() bool {
		select {
		case <-elected:
			return true
		default:
			return false
		}
	}
	// Only the leader advances root rotations.
	authority := identity.NewAuthority(&kube.SecretStore{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Key: client.ObjectKey{Namespace: cfg.Namespace, Name: caSecretName}}, leader)
	upstream := func(ref model.NamespacedName) identity.UpstreamSource {
		return kube.UpstreamFromSecret(mgr.GetAPIReader(), client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name})
	}
	refresh := make(chan event.GenericEvent, 1)
	rebuild := func() {
		select {
		case refresh <- event.GenericEvent{Object: &corev1.Namespace{}}:
		default: // a rebuild is already queued
		}
	}
	// A replica that becomes leader writes the status and ServiceImports
	// the model it already has calls for.
	go func() {
		select {
		case <-elected:
			rebuild()
		case <-ctx.Done():
		}
	}()
	fed := &operatorFederation{cfg: cfg, authority: authority, log: slogger.With("component", "federation"), reg: ctrlmetrics.Registry, refresh: rebuild}
	dash := &meshDashboard{ads: server, fed: fed}
	if err := addXDS(mgr, server, publishers{followMesh{authority: authority, log: slogger.With("component", "ca"), upstream: upstream}, server, fed, dash}, cfg.XDSAddr, xdsServing{ads: server, mode: cfg.XDSMode, authority: authority, hosts: cfg.controlPlaneHosts()}, fed, refresh, leader); err != nil {
		return err
	}
	gwXDS, err := proxyAddress(cfg.Injector.ProxyXDSAddress, cfg.XDSAddr, cfg.Namespace, "--xds-address")
	if err != nil {
		return err
	}
	gwCA, err := proxyAddress(cfg.Injector.ProxyCAAddress, cfg.CAAddr, cfg.Namespace, "--ca-address")
	if err != nil {
		return err
	}
	if err := (&controllers.GatewayReconciler{Client: mgr.GetClient(), Namespace: cfg.Namespace, ProxyImage: cfg.Injector.ProxyImage, XDSAddress: gwXDS, CAAddress: gwCA}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the east-west gateway controller: %w", err)
	}
	if err := (&controllers.MeshPeerReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Ctx: ctx, MayWrite: leader,
		Federation: func(s model.Settings) *federation.Manager { return fed.manager(ctx, s) },
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the MeshPeer controller: %w", err)
	}
	if err := mgr.Add(caSyncer{authority: authority, log: slogger.With("component", "ca")}); err != nil {
		return err
	}
	if err := mgr.Add(&caServer{
		authority: authority, addr: cfg.CAAddr, hosts: cfg.controlPlaneHosts(),
		log: slogger.With("component", "ca"), reg: ctrlmetrics.Registry, federated: fed.federated, clusters: fed.clusters,
		authn: &kube.TokenReviews{Client: mgr.GetClient(), Audience: inject.TokenAudience, TrustDomain: func() (spiffeid.TrustDomain, bool) {
			if ca := authority.CA(); ca != nil {
				return ca.TrustDomain(), true
			}
			return spiffeid.TrustDomain{}, false
		}},
	}); err != nil {
		return err
	}
	// Injected proxies and the east-west gateway verify the control plane
	// with the CA roots published in their namespaces.
	roots := func() []byte {
		if ca := authority.CA(); ca != nil {
			return identity.EncodeCertificates(ca.Roots())
		}
		return nil
	}
	if err := (&controllers.CARootReconciler{Client: mgr.GetClient(), Roots: roots, OwnNamespace: cfg.Namespace, Injection: cfg.Injector.Port != 0,
		ExcludeNamespaces: cfg.excludedNamespaces()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CA root publisher: %w", err)
	}
	if cfg.Injector.Port != 0 {
		if err := setupInjector(mgr, cfg, &keeper); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the informer caches have synced, so a rolling update does
	// not route work to a replica that cannot see the cluster yet.
	if err := mgr.AddReadyzCheck("caches", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	if cfg.DashboardAddr != "0" {
		if err := dash.serve(ctx, cfg, slogger); err != nil {
			return err
		}
	}
	log.Info("starting plexus-operator", "version", version.Get().String())
	return mgr.Start(ctx)
}
