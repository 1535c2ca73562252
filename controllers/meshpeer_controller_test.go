package controllers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/federation"
	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// testFederation is east's federation in the suite, with a CA of its own.
var testFederation = &fedFixture{}

type fedFixture struct {
	once sync.Once
	mgr  *federation.Manager
}

func testCA(td string) *identity.CA {
	d := spiffeid.RequireTrustDomainFromString(td)
	root, key, err := identity.NewRoot(d, time.Now())
	if err != nil {
		panic(err)
	}
	ca, err := identity.New(d, []*x509.Certificate{root}, key, []*x509.Certificate{root})
	if err != nil {
		panic(err)
	}
	return ca
}

func (f *fedFixture) manager(model.Settings) *federation.Manager {
	f.once.Do(func() {
		ca := testCA("east.example")
		f.mgr = &federation.Manager{Cluster: "east", TrustDomain: ca.TrustDomain(), Namespace: "plexus-system", CA: func() *identity.CA { return ca }, Log: slog.New(slog.DiscardHandler)}
		f.mgr.Init()
		go f.mgr.RunIdentity(context.Background())
	})
	return f.mgr
}

// peerIs waits for the MeshPeer's condition.
func peerIs(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *meshv1.MeshPeer {
	t.Helper()
	var mp meshv1.MeshPeer
	testenv.Eventually(t, fmt.Sprintf("MeshPeer %s %s=%s", name, typ, status), func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &mp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mp.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	return &mp
}

// TestMeshPeerStatusFollowsFederation declares west, whose federation API
// runs here with its own CA: without its bundle Secret the MeshPeer says
// what is missing; with it, east connects, imports west's export, and the
// status says so.
func TestMeshPeerStatusFollowsFederation(t *testing.T) {
	ctx := context.Background()
	west := testCA("west.example")
	svid, err := west.SelfSVID(spiffeid.RequireFromPath(west.TrustDomain(), "/ns/plexus-system/sa/plexus-operator"), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trust := federation.NewTrust()
	trust.SetSVID(svid)
	eastRoots := testFederation.manager(model.Settings{}).Trust().Bundle(spiffeid.RequireTrustDomainFromString("east.example"))
	testenv.Eventually(t, "east's own certificate", func() error {
		if eastRoots = testFederation.manager(model.Settings{}).Trust().Bundle(spiffeid.RequireTrustDomainFromString("east.example")); len(eastRoots) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	trust.UpdateBundle(spiffeid.RequireTrustDomainFromString("east.example"), eastRoots)
	srv := federation.NewServer(slog.New(slog.DiscardHandler), func(id spiffeid.ID) bool {
		return id.String() == "spiffe://east.example/ns/plexus-system/sa/plexus-operator"
	})
	srv.Update(&fedpb.ExportSet{Cluster: "west", TrustDomain: "west.example", Services: []*fedpb.ExportedService{
		{Namespace: "shop", Name: "reviews", Ports: []*fedpb.Port{{Name: "http", Port: 9080}}, Identities: []string{"spiffe://west.example/ns/shop/sa/reviews"}},
	}})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := srv.GRPC(trust)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)

	create(t,
		&meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "federated"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}},
		&meshv1.MeshPeer{ObjectMeta: metav1.ObjectMeta{Name: "west"}, Spec: meshv1.MeshPeerSpec{
			ClusterName: "west", TrustDomain: "west.example", FederationEndpoint: meshv1.HostPort(ln.Addr().String()),
			GatewayAddresses: []meshv1.IPPort{"192.0.2.10:15443"},
			TrustBundle:      meshv1.PeerTrustBundle{SecretRef: meshv1.BundleSecretReference{SecretReference: meshv1.SecretReference{Namespace: monitoringNamespace, Name: "west-bundle"}}},
		}},
	)
	t.Cleanup(func() { _ = env.Client.Delete(ctx, &meshv1.MeshPeer{ObjectMeta: metav1.ObjectMeta{Name: "west"}}) })
	mp := peerIs(t, "west", meshv1.ConditionReady, metav1.ConditionFalse, ReasonPeerInvalid)
	if msg := meta.FindStatusCondition(mp.Status.Conditions, meshv1.ConditionReady).Message; !containsAll(msg, "trust bundle Secret "+monitoringNamespace+"/west-bundle", "not found") {
		t.Errorf("message %q does not name the missing Secret", msg)
	}

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: monitoringNamespace, Name: "west-bundle"},
		Data: map[string][]byte{"bundle.pem": identity.EncodeCertificates(west.Roots())}})
	peerIs(t, "west", meshv1.ConditionConnected, metav1.ConditionTrue, ReasonConnected)
	mp = peerIs(t, "west", meshv1.ConditionReady, metav1.ConditionTrue, ReasonFederating)
	if mp.Status.ImportedServices != 1 || mp.Status.LastSyncTime == nil {
		t.Errorf("status %+v: want one imported service and a last sync time", mp.Status)
	}
	if c := meta.FindStatusCondition(mp.Status.Conditions, meshv1.ConditionTrustBundleSynced); c == nil || c.Reason != ReasonInitialBundle {
		t.Errorf("TrustBundleSynced %+v", c)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestPeerConditions(t *testing.T) {
	withURL := &meshv1.MeshPeer{Spec: meshv1.MeshPeerSpec{FederationEndpoint: "192.0.2.1:15443",
		TrustBundle: meshv1.PeerTrustBundle{EndpointURL: "https://192.0.2.1:15443/bundle"}}}
	fetched := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	imports := []*model.Import{{Key: model.NamespacedName{Namespace: "shop", Name: "reviews"}}}
	for _, tc := range []struct {
		name      string
		st        federation.PeerState
		ready     bool
		wantReady string
		wantOther string
	}{
		{name: "healthy", st: federation.PeerState{PeerStatus: federation.PeerStatus{Connected: true, Imports: imports}, Bundle: federation.BundleStatus{LastRefresh: fetched}},
			ready: true, wantReady: "importing 1 services"},
		// A failed refresh keeps the last bundle: shown, but still ready.
		{name: "refresh failing after a success", st: federation.PeerState{PeerStatus: federation.PeerStatus{Connected: true, Imports: imports}, Bundle: federation.BundleStatus{LastRefresh: fetched, Err: errors.New("timeout")}},
			ready: true, wantReady: "importing 1 services", wantOther: "timeout; trusting the bundle fetched at 2026-11-01T10:00:00Z"},
		{name: "never fetched", st: federation.PeerState{PeerStatus: federation.PeerStatus{Connected: true}, Bundle: federation.BundleStatus{Err: errors.New("x509: unknown authority")}},
			wantReady: "see the Connected and TrustBundleSynced", wantOther: "x509: unknown authority"},
		// Connected, but what the peer sends is refused: the error shows.
		{name: "exports refused", st: federation.PeerState{PeerStatus: federation.PeerStatus{Connected: true, Err: errors.New(`the peer sent the exports of cluster "x"`)}, Bundle: federation.BundleStatus{LastRefresh: fetched}},
			wantReady: `the peer's exports are refused: the peer sent the exports of cluster "x"`},
		{name: "some refused", st: federation.PeerState{PeerStatus: federation.PeerStatus{Connected: true, Imports: imports, Err: errors.New("service shop/plain: no sidecar identity")}, Bundle: federation.BundleStatus{LastRefresh: fetched}},
			ready: true, wantReady: "importing 1 services; some of the peer's exports are refused: service shop/plain"},
		{name: "away, imports kept", st: federation.PeerState{PeerStatus: federation.PeerStatus{Imports: imports, Err: errors.New("connection refused")}, Bundle: federation.BundleStatus{LastRefresh: fetched}},
			wantReady: "see the Connected", wantOther: "connection refused; keeping its 1 imports until the staleness limit"},
	} {
		conds := peerConditions(withURL, tc.st)
		ready := meta.FindStatusCondition(conds, meshv1.ConditionReady)
		if (ready.Status == metav1.ConditionTrue) != tc.ready || !strings.Contains(ready.Message, tc.wantReady) {
			t.Errorf("%s: Ready %s %q", tc.name, ready.Status, ready.Message)
		}
		if tc.wantOther != "" {
			var msgs []string
			for _, c := range conds {
				msgs = append(msgs, c.Message)
			}
			if all := strings.Join(msgs, " | "); !strings.Contains(all, tc.wantOther) {
				t.Errorf("%s: conditions %q do not say %q", tc.name, all, tc.wantOther)
			}
		}
	}
}
