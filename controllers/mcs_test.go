package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

func exportCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	const ns = "travel"
	testenv.Eventually(t, fmt.Sprintf("ServiceExport %s/%s %s=%s", ns, name, typ, status), func() error {
		var se mcsv1a1.ServiceExport
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &se); err != nil {
			return err
		}
		c := meta.FindStatusCondition(se.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg) {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}

// TestServiceExportsAndImports runs the MCS API against a real API
// server: a ServiceExport marks its Service exported and says so in its
// conditions (no Service, a port conflict with a peer), and the services
// peers export appear as ServiceImports, and go when withdrawn.
func TestServiceExportsAndImports(t *testing.T) {
	ctx := context.Background()
	create(t,
		&meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "mcs"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "travel"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "travel", Name: "flights"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}},
		&mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "travel", Name: "flights"}},
		&mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "travel", Name: "hotels"}},
	)
	exportCondition(t, "flights", string(mcsv1a1.ServiceExportConditionValid), metav1.ConditionTrue, "Valid", "exported")
	exportCondition(t, "flights", string(mcsv1a1.ServiceExportConditionConflict), metav1.ConditionFalse, "NoConflicts", "")
	exportCondition(t, "hotels", string(mcsv1a1.ServiceExportConditionValid), metav1.ConditionFalse, "NoService", "no Service travel/hotels")
	// Exported, but peers cannot reach it: no gateway, and no sidecar.
	exportCondition(t, "flights", string(mcsv1a1.ServiceExportConditionReady), metav1.ConditionFalse, "Pending", "does not run the east-west gateway")
	testenv.Eventually(t, "flights exported in the model", func() error {
		if m := published.get(); m == nil || m.Service(model.NamespacedName{Namespace: "travel", Name: "flights"}) == nil ||
			!m.Service(model.NamespacedName{Namespace: "travel", Name: "flights"}).Exported {
			return fmt.Errorf("not exported yet")
		}
		return nil
	})

	// west exports flights with another port, and cars, which east lacks.
	gw := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.10:15443")}
	peerImports.set(
		&model.Import{Key: model.NamespacedName{Namespace: "travel", Name: "flights"}, Cluster: "west", TrustDomain: "west.example",
			Ports: []model.ServicePort{{Name: "grpc", Port: 9090, Protocol: model.ProtocolGRPC}}, Gateways: gw},
		&model.Import{Key: model.NamespacedName{Namespace: "travel", Name: "cars"}, Cluster: "west", TrustDomain: "west.example",
			Ports: []model.ServicePort{{Name: "http", Port: 8080, Protocol: model.ProtocolHTTP}}, Gateways: gw,
			Identities: []string{"spiffe://west.example/ns/travel/sa/cars"}},
	)
	t.Cleanup(func() { peerImports.set() })
	exportCondition(t, "flights", string(mcsv1a1.ServiceExportConditionConflict), metav1.ConditionTrue, "PortConflict", "cluster west exports it with ports 9090/grpc")
	var carsIP string
	testenv.Eventually(t, "ServiceImport travel/cars", func() error {
		var si mcsv1a1.ServiceImport
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "travel", Name: "cars"}, &si); err != nil {
			return err
		}
		if len(si.Spec.Ports) != 1 || si.Spec.Ports[0].Port != 8080 || len(si.Status.Clusters) != 1 || si.Status.Clusters[0].Cluster != "west" {
			return fmt.Errorf("ServiceImport %+v", si)
		}
		// cars runs only in west: it gets a clusterset IP of its own.
		if len(si.Spec.IPs) != 1 || !ClusterSetPrefix.Contains(netip.MustParseAddr(si.Spec.IPs[0])) {
			return fmt.Errorf("ServiceImport IPs %v, want one clusterset IP", si.Spec.IPs)
		}
		carsIP = si.Spec.IPs[0]
		return nil
	})
	testenv.Eventually(t, "cars in the model through west's gateway", func() error {
		m := published.get()
		svc := m.Service(model.NamespacedName{Namespace: "travel", Name: "cars"})
		if svc == nil || len(svc.Endpoints) != 1 || svc.Endpoints[0].Address.String() != "192.0.2.10" ||
			len(svc.VIPs) != 1 || svc.VIPs[0].String() != carsIP || svc.Hostnames[0] != "cars.travel.svc.clusterset.local" {
			return fmt.Errorf("service %+v", svc)
		}
		return nil
	})

	// west withdraws cars: its ServiceImport goes.
	peerImports.set(&model.Import{Key: model.NamespacedName{Namespace: "travel", Name: "flights"}, Cluster: "west", TrustDomain: "west.example",
		Ports: []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}}, Gateways: gw})
	testenv.Eventually(t, "ServiceImport travel/cars deleted", func() error {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "travel", Name: "cars"}, &mcsv1a1.ServiceImport{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
	exportCondition(t, "flights", string(mcsv1a1.ServiceExportConditionConflict), metav1.ConditionFalse, "NoConflicts", "")
}

func TestExportReady(t *testing.T) {
	svc := &model.Service{Endpoints: []model.Endpoint{{Address: netip.MustParseAddr("10.0.0.1")}}}
	if c := exportReady(svc, "east", true); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "no endpoint with a sidecar") {
		t.Errorf("without sidecars: %+v", c)
	}
	svc.Endpoints = append(svc.Endpoints, model.Endpoint{Address: netip.MustParseAddr("10.0.0.2"), Identity: "spiffe://west.example/ns/a/sa/b", Locality: model.Locality{Cluster: "west"}})
	if c := exportReady(svc, "east", true); c.Status != metav1.ConditionFalse {
		t.Errorf("another cluster's sidecar does not serve peers from here: %+v", c)
	}
	svc.Endpoints = append(svc.Endpoints, model.Endpoint{Address: netip.MustParseAddr("10.0.0.3"), Identity: "spiffe://east.example/ns/a/sa/b"})
	if c := exportReady(svc, "east", true); c.Status != metav1.ConditionTrue || c.Reason != "Exported" {
		t.Errorf("with a sidecar and the gateway: %+v", c)
	}
	if c := exportReady(svc, "east", false); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "eastWestGateway.enabled") {
		t.Errorf("without the gateway: %+v", c)
	}
}

// A replica that is not the leader builds and publishes the model (it
// serves proxies too) but writes nothing: no ServiceImport, no status.
func TestAFollowerPublishesButDoesNotWrite(t *testing.T) {
	ctx := context.Background()
	create(t,
		&meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "follower"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "standby"}},
	)
	var got lastModel
	remote := &model.Import{Key: model.NamespacedName{Namespace: "standby", Name: "remote"}, Cluster: "west", TrustDomain: "west.example",
		Ports: []model.ServicePort{{Name: "http", Port: 8080, Protocol: model.ProtocolHTTP}}, Gateways: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.10:15443")},
		Identities: []string{"spiffe://west.example/ns/standby/sa/remote"}}
	follower := &MeshConfigReconciler{Client: env.Client, Publisher: &got, MCS: true, MayWrite: func() bool { return false },
		Imports: func() []*model.Import { return []*model.Import{remote} }}
	testenv.Eventually(t, "the follower publishes the import", func() error {
		if _, err := follower.Reconcile(ctx, key); err != nil {
			return err
		}
		if m := got.get(); m == nil || m.Service(remote.Key) == nil {
			return errors.New("not in the model")
		}
		return nil
	})
	var si mcsv1a1.ServiceImport
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "standby", Name: "remote"}, &si); !apierrors.IsNotFound(err) {
		t.Fatalf("a follower wrote ServiceImport standby/remote (%v)", err)
	}
	// The same reconciler as leader writes it. The suite's own
	// reconciler, which does not import remote, may delete it between the
	// write and the read: write again until it is read.
	leader := *follower
	leader.MayWrite = nil
	testenv.Eventually(t, "the leader writes ServiceImport standby/remote", func() error {
		if _, err := leader.Reconcile(ctx, key); err != nil {
			return err
		}
		return env.Client.Get(ctx, client.ObjectKey{Namespace: "standby", Name: "remote"}, &si)
	})
	_ = env.Client.Delete(ctx, &si)
}
