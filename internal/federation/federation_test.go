package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/telemetry"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// domain is one cluster's CA.
type domain struct {
	td spiffeid.TrustDomain
	ca *identity.CA
}

func newDomain(t *testing.T, name string) *domain {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString(name)
	root, key, err := identity.NewRoot(td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.New(td, []*x509.Certificate{root}, key, []*x509.Certificate{root})
	if err != nil {
		t.Fatal(err)
	}
	return &domain{td: td, ca: ca}
}

// trust is an operator of d (or someone else, with account) that trusts
// the peers' bundles.
func (d *domain) trust(t *testing.T, account string, peers ...*domain) *Trust {
	t.Helper()
	svid, err := d.ca.SelfSVID(spiffeid.RequireFromPath(d.td, "/ns/plexus-system/sa/"+account), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrust()
	tr.SetSVID(svid)
	for _, p := range peers {
		tr.SetBundle(p.td, p.ca.Roots())
	}
	return tr
}

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serve runs a federation server proving itself with tr on 127.0.0.1,
// accepting the peers' trust domains.
func serve(t *testing.T, tr *Trust, peers ...*domain) (*Server, string, func()) {
	t.Helper()
	s := NewServer(testLog(), func(td spiffeid.TrustDomain) bool {
		for _, p := range peers {
			if p.td == td {
				return true
			}
		}
		return false
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPC(tr)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return s, ln.Addr().String(), g.Stop
}

func exports(services ...string) *fedpb.ExportSet {
	set := &fedpb.ExportSet{Cluster: "west", TrustDomain: "west.example", Gateways: []string{"192.0.2.10:15443"}}
	for _, s := range services {
		set.Services = append(set.Services, &fedpb.ExportedService{
			Namespace: "shop", Name: s, Ports: []*fedpb.Port{{Name: "http", Port: 9080, Protocol: "HTTP"}},
			Identities: []string{"spiffe://west.example/ns/shop/sa/" + s},
		})
	}
	return set
}

func watch(t *testing.T, tr *Trust, endpoint string, staleness time.Duration) *Watcher {
	t.Helper()
	w := &Watcher{
		Peer:     Peer{Cluster: "west", TrustDomain: spiffeid.RequireTrustDomainFromString("west.example"), Endpoint: endpoint, Staleness: staleness},
		Self:     "east",
		Identity: tr,
		Log:      testLog(),
		// Fast retries: the test waits for reconnections.
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func importedNames(st PeerStatus) string {
	var names []string
	for _, imp := range st.Imports {
		names = append(names, imp.Key.Name)
	}
	return strings.Join(names, ",")
}

func TestWatcherImportsAPeersExports(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Update(exports("reviews", "details"))
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Hour)

	testenv.Eventually(t, "east imports west's exports", func() error {
		st := w.Status()
		if !st.Connected || importedNames(st) != "reviews,details" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	imp := w.Status().Imports[0]
	if imp.Cluster != "west" || imp.TrustDomain != "west.example" || imp.Gateways[0].String() != "192.0.2.10:15443" ||
		imp.Identities[0] != "spiffe://west.example/ns/shop/sa/reviews" || imp.Ports[0].Port != 9080 {
		t.Errorf("import %+v", imp)
	}

	// Un-exporting reaches the watcher.
	srv.Update(exports("details"))
	testenv.Eventually(t, "reviews withdrawn", func() error {
		if got := importedNames(w.Status()); got != "details" {
			return fmt.Errorf("imports %q", got)
		}
		return nil
	})
}

func TestServerRefusesWhoIsNotAPeersOperator(t *testing.T) {
	east, west, other := newDomain(t, "east.example"), newDomain(t, "west.example"), newDomain(t, "other.example")
	// west serves east only.
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east, other), east)
	srv.Update(exports("reviews"))
	for name, tr := range map[string]*Trust{
		"an undeclared trust domain":             other.trust(t, OperatorAccount, west),
		"a workload of a peer, not its operator": east.trust(t, "reviews", west),
	} {
		w := watch(t, tr, addr, time.Hour)
		testenv.Eventually(t, name+" refused", func() error {
			st := w.Status()
			if st.Err == nil || st.Connected || st.Imports != nil {
				return fmt.Errorf("status %+v", st)
			}
			if !strings.Contains(st.Err.Error(), "PermissionDenied") {
				return fmt.Errorf("error %w, want PermissionDenied", st.Err)
			}
			return nil
		})
	}
}

// A peer whose certificate does not chain to the bundle east holds for
// west (a wrong or stale trust bundle) is refused before any export.
func TestWatcherRefusesAPeerWithAWrongBundle(t *testing.T) {
	east, west, impostor := newDomain(t, "east.example"), newDomain(t, "west.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, impostor.trust(t, OperatorAccount, east), east)
	srv.Update(exports("reviews"))
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Hour)
	testenv.Eventually(t, "the impostor refused", func() error {
		st := w.Status()
		if st.Err == nil || st.Imports != nil {
			return fmt.Errorf("status %+v", st)
		}
		if !strings.Contains(st.Err.Error(), "certificate") {
			return fmt.Errorf("error %w, want a certificate verification failure", st.Err)
		}
		return nil
	})
}

func TestImportsAreWithdrawnAfterTheStalenessLimit(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, stop := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Update(exports("reviews"))
	w := watch(t, east.trust(t, OperatorAccount, west), addr, 2*time.Second)
	testenv.Eventually(t, "imported", func() error {
		if importedNames(w.Status()) != "reviews" {
			return errors.New("not yet")
		}
		return nil
	})
	stop()
	// Kept while the peer is briefly away...
	time.Sleep(500 * time.Millisecond)
	if st := w.Status(); st.Connected || importedNames(st) != "reviews" {
		t.Fatalf("right after the peer left: %+v", st)
	}
	// ...and withdrawn past the limit.
	testenv.Eventually(t, "withdrawn", func() error {
		if st := w.Status(); st.Imports != nil {
			return fmt.Errorf("still importing %q", importedNames(st))
		}
		return nil
	})
}

func TestImportsCheckThePeer(t *testing.T) {
	peer := Peer{Cluster: "west", TrustDomain: spiffeid.RequireTrustDomainFromString("west.example")}
	set := exports("reviews")
	set.Services[0].Identities = append(set.Services[0].Identities, "spiffe://east.example/ns/shop/sa/evil")
	imps, err := Imports(set, peer)
	if err == nil || !strings.Contains(err.Error(), `identity "spiffe://east.example/ns/shop/sa/evil" is not in the peer's trust domain`) {
		t.Errorf("error %v", err)
	}
	if len(imps) != 1 || len(imps[0].Identities) != 1 {
		t.Errorf("imports %+v: want reviews with west's identity only", imps)
	}
	// Bad names, repeated ports and services without identities (which
	// could only be called in plaintext) are not imported.
	set = exports("reviews", "Bad_Name", "details")
	set.Services[2].Ports = append(set.Services[2].Ports, set.Services[2].Ports[0])
	noID := &fedpb.ExportedService{Namespace: "shop", Name: "plain", Ports: []*fedpb.Port{{Name: "http", Port: 80}}}
	set.Services = append(set.Services, noID)
	imps, err = Imports(set, peer)
	for _, want := range []string{`"shop/Bad_Name": not a valid`, "port 9080 (\"http\") given twice", "service shop/plain: no sidecar identity"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if len(imps) != 2 || imps[0].Key.Name != "reviews" || imps[1].Key.Name != "details" || len(imps[1].Ports) != 1 {
		t.Errorf("imports %+v: want reviews and details (one port)", imps)
	}
	set = exports("reviews")
	set.Cluster = "east"
	if _, err := Imports(set, peer); err == nil || !strings.Contains(err.Error(), `exports of cluster "east"`) {
		t.Errorf("a set claiming another cluster: %v", err)
	}
}

// serveBundle runs d's bundle endpoint on 127.0.0.1 and returns its URL.
func serveBundle(t *testing.T, tr *Trust, td spiffeid.TrustDomain) string {
	t.Helper()
	srv, err := BundleServer(tr, td)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String() + BundlePath
}

func refresh(t *testing.T, tr *Trust, url string, td spiffeid.TrustDomain) *BundleRefresher {
	t.Helper()
	r := &BundleRefresher{
		Peer:  BundlePeer{TrustDomain: td, URL: url, EndpointID: spiffeid.RequireFromPath(td, "/ns/plexus-system/sa/"+OperatorAccount), Refresh: 100 * time.Millisecond},
		Trust: tr, Log: testLog(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// TestBundleFederationFollowsThePeersRoots fetches west's bundle over the
// https_spiffe profile, starting from the bundle east was given, and picks
// up a root west adds (as during a rotation).
func TestBundleFederationFollowsThePeersRoots(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	westTrust := west.trust(t, OperatorAccount)
	url := serveBundle(t, westTrust, west.td)
	eastTrust := east.trust(t, OperatorAccount, west) // the initial bundle
	r := refresh(t, eastTrust, url, west.td)
	testenv.Eventually(t, "west's bundle fetched", func() error {
		if st := r.Status(); st.LastRefresh.IsZero() {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	next, _, err := identity.NewRoot(west.td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	westTrust.SetBundle(west.td, append(west.ca.Roots(), next))
	testenv.Eventually(t, "west's new root trusted in east", func() error {
		if n := len(eastTrust.Bundle(west.td)); n != 2 {
			return fmt.Errorf("%d roots", n)
		}
		return nil
	})
}

// An endpoint that cannot prove it is west's (a wrong initial bundle, or
// an impostor) is refused, and the bundle east holds is kept.
func TestBundleFederationRefusesAnImpostor(t *testing.T) {
	east, west, impostor := newDomain(t, "east.example"), newDomain(t, "west.example"), newDomain(t, "west.example")
	url := serveBundle(t, impostor.trust(t, OperatorAccount), impostor.td)
	eastTrust := east.trust(t, OperatorAccount, west)
	r := refresh(t, eastTrust, url, west.td)
	testenv.Eventually(t, "the impostor refused", func() error {
		if st := r.Status(); st.Err == nil {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if got := eastTrust.Bundle(west.td); len(got) != 1 || !got[0].Equal(west.ca.Roots()[0]) {
		t.Fatal("the impostor's bundle replaced west's")
	}
}

// TestManagerFederatesAndPublishesMetrics drives the Manager as the
// operator does: it issues itself a certificate, federates with the peer
// a MeshPeer declares, hands over its imports and bundle, and reports the
// peer in its metrics; removing the peer withdraws all of it.
func TestManagerFederatesAndPublishesMetrics(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Update(exports("reviews"))
	reg := prometheus.NewRegistry()
	changed := make(chan struct{}, 100)
	m := &Manager{Cluster: "east", TrustDomain: east.td, Namespace: "plexus-system", CA: func() *identity.CA { return east.ca },
		Log: testLog(), Registerer: reg, OnChange: func() { changed <- struct{}{} }}
	m.Init()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.RunIdentity(ctx)
	m.SetPeers(ctx, []PeerConfig{{Name: "west", InitialBundle: west.ca.Roots(),
		Peer: Peer{Cluster: "west", TrustDomain: west.td, Endpoint: addr, Staleness: time.Minute}}})
	testenv.Eventually(t, "west imported, and in the metrics", func() error {
		if n := len(m.Imports()); n != 1 {
			return fmt.Errorf("%d imports", n)
		}
		up := testutil.ToFloat64(m.connected.WithLabelValues("west"))
		imported := testutil.ToFloat64(m.imported.WithLabelValues("west"))
		if up != 1 || imported != 1 {
			return fmt.Errorf("connected %v, imported %v", up, imported)
		}
		return nil
	})
	if fed := m.Federated(); len(fed["west.example"]) != 1 {
		t.Errorf("federated bundles %v, want west's root", fed)
	}
	if len(changed) == 0 {
		t.Error("OnChange was never called")
	}
	m.SetPeers(ctx, nil)
	if n := len(m.Imports()); n != 0 {
		t.Errorf("%d imports after the peer was removed", n)
	}
	if n, err := testutil.GatherAndCount(reg, telemetry.FederationPeerConnected.Name); err != nil || n != 0 {
		t.Errorf("%d series of a removed peer left (%v)", n, err)
	}
}

// The export set is re-sent unchanged now and then, so the watcher's last
// sync shows how fresh its view is.
func TestExportsAreResent(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Resync = 100 * time.Millisecond
	srv.Update(exports("reviews"))
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Hour)
	var first time.Time
	testenv.Eventually(t, "first sync", func() error {
		if first = w.Status().LastSync; first.IsZero() {
			return errors.New("not yet")
		}
		return nil
	})
	testenv.Eventually(t, "a later sync without a change", func() error {
		if !w.Status().LastSync.After(first) {
			return errors.New("not yet")
		}
		return nil
	})
}
