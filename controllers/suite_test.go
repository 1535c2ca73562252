package controllers

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// monitoringNamespace is the operator's namespace in these tests.
const monitoringNamespace = "plexus-monitoring"

var (
	env         *testenv.Env
	published   = &lastModel{}
	peerImports = newImports()
)

// imports stands in for federation: tests set what peers export.
type imports struct {
	mu      sync.Mutex
	list    []*model.Import
	trigger chan event.GenericEvent
}

func newImports() *imports { return &imports{trigger: make(chan event.GenericEvent, 1)} }

func (i *imports) get() []*model.Import {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.list
}

// set replaces the peers' exports and rebuilds the model.
func (i *imports) set(list ...*model.Import) {
	i.mu.Lock()
	i.list = list
	i.mu.Unlock()
	i.trigger <- event.GenericEvent{Object: &corev1.Namespace{}}
}

// lastModel records the last model the provider published.
type lastModel struct {
	mu sync.Mutex
	m  *model.Mesh
}

func (l *lastModel) Update(m *model.Mesh) { l.mu.Lock(); l.m = m; l.mu.Unlock() }

func (l *lastModel) get() *model.Mesh {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m
}

// TestMain runs the reconcilers in a manager against a real API server.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	gatewayCRDs, err := testenv.GatewayAPICRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mcsCRDs, err := testenv.MCSCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if env, err = testenv.Start(gatewayCRDs, mcsCRDs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	injector, err := newInjectorFixture()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:        env.Scheme,
		Metrics:       metricsserver.Options{BindAddress: "0"},
		WebhookServer: injector.server,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := injector.setup(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := (&MeshReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: monitoringNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	monitoringReconciler := &MonitoringReconciler{Client: mgr.GetClient(), Namespace: monitoringNamespace, Mapper: mgr.GetRESTMapper(), Cache: mgr.GetCache(), CRDRetry: time.Second}
	if err := monitoringReconciler.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !GatewayAPIInstalled(mgr.GetRESTMapper()) {
		fmt.Fprintln(os.Stderr, "the Gateway API CRDs did not install")
		return 1
	}
	if !MCSInstalled(mgr.GetRESTMapper()) {
		fmt.Fprintln(os.Stderr, "the MCS API CRDs did not install")
		return 1
	}
	if err := (&MeshConfigReconciler{Client: mgr.GetClient(), Publisher: published, GatewayAPI: true, MCS: true, Imports: peerImports.get, Trigger: peerImports.trigger}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := (&GatewayReconciler{Client: mgr.GetClient(), Namespace: monitoringNamespace, ProxyImage: "example.com/plexus-proxy:test", XDSAddress: "plexus-operator.plexus-monitoring.svc:15010", CAAddress: "plexus-operator.plexus-monitoring.svc:15012"}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		return 1
	}
	if err := (&MeshPeerReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Ctx: ctx, Federation: testFederation.manager}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}
