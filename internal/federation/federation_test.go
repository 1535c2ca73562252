package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

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
	return d.trustAs(t, "/ns/plexus-system/sa/"+account, peers...)
}

// operator is d's operator identity, as MeshPeers name it by default.
func (d *domain) operator() spiffeid.ID {
	return spiffeid.RequireFromPath(d.td, "/ns/plexus-system/sa/"+OperatorAccount)
}

func (d *domain) trustAs(t *testing.T, path string, peers ...*domain) *Trust {
	t.Helper()
	svid, err := d.ca.SelfSVID(spiffeid.RequireFromPath(d.td, path), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrust()
	tr.SetSVID(svid)
	for _, p := range peers {
		tr.UpdateBundle(p.td, p.ca.Roots())
	}
	return tr
}

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serve runs a federation server proving itself with tr on 127.0.0.1,
// accepting the peers' trust domains.
func serve(t *testing.T, tr *Trust, peers ...*domain) (*Server, string, func()) {
	t.Helper()
	s := NewServer(testLog(), func(id spiffeid.ID) bool {
		for _, p := range peers {
			if p.operator() == id {
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

func watch(t *testing.T, tr *Trust, endpoint string, staleness time.Duration, opts ...func(*Watcher)) *Watcher {
	t.Helper()
	w := &Watcher{
		Peer: Peer{Cluster: "west", TrustDomain: spiffeid.RequireTrustDomainFromString("west.example"), Endpoint: endpoint, Staleness: staleness,
			Operator: spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString("west.example"), "/ns/plexus-system/sa/"+OperatorAccount)},
		Self:     "east",
		Identity: tr,
		Log:      testLog(),
		// Fast retries: the test waits for reconnections.
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(w)
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
		// Anyone may name a service account plexus-operator in their own
		// namespace: only the operator the MeshPeer names is accepted.
		"an operator account in another namespace": east.trustAs(t, "/ns/tenant/sa/"+OperatorAccount, west),
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
	westTrust.UpdateBundle(west.td, append(west.ca.Roots(), next))
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
		Peer: Peer{Cluster: "west", TrustDomain: west.td, Operator: west.operator(), Endpoint: addr, Staleness: time.Minute}}})
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
	if b := m.Trust().Bundle(west.td); b != nil || len(m.Federated()) != 0 {
		t.Errorf("a removed peer's bundle is still trusted: %d roots", len(b))
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
	var changes, syncs atomic.Int32
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Hour, func(w *Watcher) {
		w.OnChange, w.OnSync = func() { changes.Add(1) }, func() { syncs.Add(1) }
	})
	var first time.Time
	testenv.Eventually(t, "first sync", func() error {
		if first = w.Status().LastSync; first.IsZero() {
			return errors.New("not yet")
		}
		return nil
	})
	testenv.Eventually(t, "a later sync without a change", func() error {
		if !w.Status().LastSync.After(first) || syncs.Load() < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	// An unchanged resend is no change: the control plane is not rebuilt
	// for it.
	if n := changes.Load(); n > 1 {
		t.Errorf("OnChange called %d times for one export set", n)
	}
}

// Removing a peer ends its open stream at once, not at the next resync.
func TestServerEndsTheStreamOfARemovedPeer(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	var declared atomic.Bool
	declared.Store(true)
	s := NewServer(testLog(), func(id spiffeid.ID) bool { return declared.Load() && id == east.operator() })
	s.Resync = time.Hour
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPC(west.trust(t, OperatorAccount, east))
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	s.Update(exports("reviews"))
	w := watch(t, east.trust(t, OperatorAccount, west), ln.Addr().String(), time.Hour)
	testenv.Eventually(t, "imported", func() error {
		if importedNames(w.Status()) != "reviews" {
			return errors.New("not yet")
		}
		return nil
	})
	declared.Store(false)
	s.PeersChanged()
	testenv.Eventually(t, "the stream ended", func() error {
		st := w.Status()
		if st.Connected || st.Err == nil || !strings.Contains(st.Err.Error(), "PermissionDenied") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// A stream that stays open but carries nothing (a peer that hangs, a
// half-dead connection) is taken for dead and reconnected.
func TestWatcherReconnectsASilentStream(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Resync = time.Hour
	srv.Update(exports("reviews"))
	var changes atomic.Int32
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Hour, func(w *Watcher) {
		w.Silence = 300 * time.Millisecond
		w.OnChange = func() { changes.Add(1) }
	})
	testenv.Eventually(t, "the silent stream taken for dead", func() error {
		if st := w.Status(); st.Err == nil || !strings.Contains(st.Err.Error(), "sent nothing for 300ms") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if importedNames(w.Status()) != "reviews" {
		t.Fatalf("imports lost on reconnecting: %+v", w.Status())
	}
}

// A peer that stays connected but only sends sets that are refused keeps
// its last good imports until the staleness limit, then loses them.
func TestRefusedExportsAgeOut(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	srv, addr, _ := serve(t, west.trust(t, OperatorAccount, east), east)
	srv.Resync = 50 * time.Millisecond
	srv.Update(exports("reviews"))
	w := watch(t, east.trust(t, OperatorAccount, west), addr, time.Second)
	testenv.Eventually(t, "imported", func() error {
		if importedNames(w.Status()) != "reviews" {
			return errors.New("not yet")
		}
		return nil
	})
	bad := exports("reviews")
	bad.Cluster = "elsewhere"
	srv.Update(bad)
	testenv.Eventually(t, "refused, then withdrawn though connected", func() error {
		st := w.Status()
		if !st.Connected || st.Imports != nil || st.Err == nil || !strings.Contains(st.Err.Error(), `cluster "elsewhere"`) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// Editing a MeshPeer restarts its watcher but keeps the bundle fetched
// since; the operator's own bundle follows the CA's roots.
func TestManagerKeepsRefreshedBundlesAndFollowsItsRoots(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	ca := atomic.Pointer[identity.CA]{}
	ca.Store(east.ca)
	m := &Manager{Cluster: "east", TrustDomain: east.td, Namespace: "plexus-system", CA: ca.Load, Log: testLog()}
	m.Init()
	m.ownBundleCheck = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.RunIdentity(ctx)
	peer := PeerConfig{Name: "west", InitialBundle: west.ca.Roots(),
		Peer: Peer{Cluster: "west", TrustDomain: west.td, Operator: west.operator(), Endpoint: "127.0.0.1:1", Staleness: time.Minute}}
	m.SetPeers(ctx, []PeerConfig{peer})
	next, _, err := identity.NewRoot(west.td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m.Trust().UpdateBundle(west.td, append(west.ca.Roots(), next)) // as a refresh would
	peer.Peer.Staleness = 2 * time.Minute
	m.SetPeers(ctx, []PeerConfig{peer})
	if n := len(m.Trust().Bundle(west.td)); n != 2 {
		t.Errorf("after an edit the peer has %d roots, want the 2 refreshed ones", n)
	}

	// A rotation: the CA now also trusts a new root.
	newRoot, newKey, err := identity.NewRoot(east.td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := identity.New(east.td, []*x509.Certificate{newRoot}, newKey, append(east.ca.Roots(), newRoot))
	if err != nil {
		t.Fatal(err)
	}
	ca.Store(rotated)
	testenv.Eventually(t, "the own bundle follows the CA", func() error {
		if n := len(m.Trust().Bundle(east.td)); n != 2 {
			return fmt.Errorf("%d roots", n)
		}
		return nil
	})
}

// A bundle endpoint that serves a bundle without X.509 roots (JWT keys
// only) is refused: installing it would trust nothing from the peer.
func TestBundleFederationRefusesAnEmptyBundle(t *testing.T) {
	east, west := newDomain(t, "east.example"), newDomain(t, "west.example")
	westTrust := west.trust(t, OperatorAccount)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwtOnly := spiffebundle.New(west.td)
	if err := jwtOnly.AddJWTAuthority("k1", key.Public()); err != nil {
		t.Fatal(err)
	}
	h, err := federation.NewHandler(west.td, jwtOnly)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsconfig.TLSServerConfig(westTrust), ReadHeaderTimeout: time.Second}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	eastTrust := east.trust(t, OperatorAccount, west)
	r := refresh(t, eastTrust, "https://"+ln.Addr().String()+BundlePath, west.td)
	testenv.Eventually(t, "the empty bundle refused", func() error {
		if st := r.Status(); st.Err == nil || !strings.Contains(st.Err.Error(), "without X.509 authorities") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if got := eastTrust.Bundle(west.td); len(got) != 1 {
		t.Fatalf("west's bundle replaced by %d roots", len(got))
	}
}
