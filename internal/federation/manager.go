package federation

import (
	"context"
	"crypto/x509"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// PeerConfig is one peer as its MeshPeer declares it.
type PeerConfig struct {
	// Name of the MeshPeer.
	Name string
	Peer Peer
	// InitialBundle is the peer's trust bundle from the MeshPeer's Secret,
	// trusted until the bundle endpoint gives a newer one.
	InitialBundle []*x509.Certificate
	// Bundle is where to refresh it; nil keeps the initial bundle.
	Bundle *BundlePeer
}

// PeerState is a peer's federation status, for MeshPeer status.
type PeerState struct {
	PeerStatus
	Bundle BundleStatus
}

// Manager federates the mesh with its peers: it holds the operator's own
// SVID (issued by its CA and renewed at half-life), serves exports,
// watches each peer, refreshes each peer's bundle, and hands the imports
// and federated bundles to the rest of the control plane.
type Manager struct {
	Cluster     string
	TrustDomain spiffeid.TrustDomain
	// Namespace the operator runs in: its SPIFFE ID is
	// spiffe://<trust domain>/ns/<namespace>/sa/plexus-operator.
	Namespace string
	// CA is the mesh CA in effect, nil while there is none.
	CA func() *identity.CA
	// OnChange is called when imports, bundles or peer status change.
	OnChange func()
	Log      *slog.Logger
	// Registerer receives the federation metrics; nil for none.
	Registerer prometheus.Registerer

	ownBundleCheck                     time.Duration
	trust                              *Trust
	server                             *Server
	connected, imported, synced, fresh *prometheus.GaugeVec

	mu    sync.Mutex
	peers map[string]*peerRun
}

type peerRun struct {
	cfg     PeerConfig
	watcher *Watcher
	bundles *BundleRefresher
	cancel  context.CancelFunc
	done    chan struct{}
}

// Init prepares the Manager; call it before anything else.
func (m *Manager) Init() {
	m.trust = NewTrust()
	m.ownBundleCheck = ownBundleCheck
	m.peers = map[string]*peerRun{}
	m.server = NewServer(m.Log.With("component", "federation"), m.authorized)
	m.connected = telemetry.FederationPeerConnected.GaugeVec()
	m.imported = telemetry.FederationImportedServices.GaugeVec()
	m.synced = telemetry.FederationLastSync.GaugeVec()
	m.fresh = telemetry.FederationBundleRefresh.GaugeVec()
	if m.Registerer != nil {
		for _, c := range []prometheus.Collector{m.connected, m.imported, m.synced, m.fresh} {
			if err := m.Registerer.Register(c); err != nil {
				m.Log.Error("federation metrics not registered", "error", err)
			}
		}
	}
}

// Trust is the operator's identity for the federation API and the bundle
// endpoint.
func (m *Manager) Trust() *Trust { return m.trust }

// Server is the federation API.
func (m *Manager) Server() *Server { return m.server }

// authorized reports whether id is a declared peer's operator.
func (m *Manager) authorized(id spiffeid.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.peers {
		if p.cfg.Peer.Operator == id {
			return true
		}
	}
	return false
}

// changed follows a change of imports, bundles or peer status: the
// metrics, then the rest of the control plane.
func (m *Manager) changed() {
	m.observe()
	if m.OnChange != nil {
		m.OnChange()
	}
}

// observe brings the federation metrics up to date.
func (m *Manager) observe() {
	for name, st := range m.States() {
		up := 0.0
		if st.Connected {
			up = 1
		}
		m.connected.WithLabelValues(name).Set(up)
		m.imported.WithLabelValues(name).Set(float64(len(st.Imports)))
		if !st.LastSync.IsZero() {
			m.synced.WithLabelValues(name).Set(float64(st.LastSync.Unix()))
		}
		if !st.Bundle.LastRefresh.IsZero() {
			m.fresh.WithLabelValues(name).Set(float64(st.Bundle.LastRefresh.Unix()))
		}
	}
}

// ownBundleCheck is how often the operator's own trust bundle is compared
// with the CA's roots, so a root rotation reaches peers (bundle endpoint)
// and the federation API's verification within it.
const ownBundleCheck = 30 * time.Second

// RunIdentity keeps the operator's own SVID current, and its own trust
// domain's bundle in step with the CA's roots, until ctx ends.
func (m *Manager) RunIdentity(ctx context.Context) {
	id, err := OperatorID(m.TrustDomain, m.Namespace)
	if err != nil {
		m.Log.Error("the operator's namespace makes no SPIFFE ID; federation cannot prove who it is", "namespace", m.Namespace, "error", err)
		return
	}
	var renew time.Time
	for {
		wait := 5 * time.Second
		if ca := m.CA(); ca != nil {
			now := time.Now()
			if !now.Before(renew) {
				svid, err := ca.SelfSVID(id, 24*time.Hour, now)
				if err != nil {
					m.Log.Error("issuing the operator's own certificate", "error", err)
				} else {
					m.trust.SetSVID(svid)
					renew = now.Add(svid.NotAfter().Sub(now) / 2)
				}
			}
			if m.trust.UpdateBundle(m.TrustDomain, ca.Roots()) {
				m.Log.Info("the mesh's trust bundle changed; peers receive it at their next refresh")
			}
			if !renew.IsZero() {
				wait = min(m.ownBundleCheck, time.Until(renew))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 10*time.Millisecond)):
		}
	}
}

// Publish makes mesh's exports what peers receive.
func (m *Manager) Publish(mesh *model.Mesh, gateways []string) {
	m.server.Update(ExportSet(mesh, gateways))
}

// SetPeers starts watching new peers, restarts changed ones and stops
// removed ones. The goroutines end with ctx.
func (m *Manager) SetPeers(ctx context.Context, peers []PeerConfig) {
	m.mu.Lock()
	want := map[string]PeerConfig{}
	for _, p := range peers {
		want[p.Name] = p
	}
	var stopped []*peerRun
	for name, run := range m.peers {
		if p, ok := want[name]; !ok || !samePeer(p, run.cfg) {
			stopped = append(stopped, run)
			delete(m.peers, name)
		}
	}
	for _, run := range stopped {
		// A peer that stays (edited, same trust domain and initial bundle)
		// keeps the bundle it refreshed; a removed one is no longer trusted.
		if p, ok := want[run.cfg.Name]; !ok || p.Peer.TrustDomain != run.cfg.Peer.TrustDomain {
			m.trust.DeleteBundle(run.cfg.Peer.TrustDomain)
		}
	}
	for name, p := range want {
		if _, ok := m.peers[name]; ok {
			continue
		}
		if old := stoppedPeer(stopped, name); old == nil || !sameBundle(old.cfg, p) || m.trust.Bundle(p.Peer.TrustDomain) == nil {
			m.trust.UpdateBundle(p.Peer.TrustDomain, p.InitialBundle)
		}
		run := &peerRun{cfg: p, done: make(chan struct{})}
		runCtx, cancel := context.WithCancel(ctx)
		run.cancel = cancel
		run.watcher = &Watcher{Peer: p.Peer, Self: m.Cluster, Identity: m.trust, OnChange: m.changed, OnSync: m.observe, Log: m.Log.With("peer", p.Name)}
		if p.Bundle != nil {
			run.bundles = &BundleRefresher{Peer: *p.Bundle, Trust: m.trust, OnChange: m.changed, Log: m.Log.With("peer", p.Name)}
		}
		m.peers[name] = run
		m.connected.WithLabelValues(name).Set(0)
		m.imported.WithLabelValues(name).Set(0)
		m.synced.WithLabelValues(name).Set(0)
		m.fresh.WithLabelValues(name).Set(0)
		go func() {
			defer close(run.done)
			var wg sync.WaitGroup
			if run.bundles != nil {
				wg.Add(1)
				go func() { defer wg.Done(); run.bundles.Run(runCtx) }()
			}
			run.watcher.Run(runCtx)
			wg.Wait()
		}()
	}
	m.mu.Unlock()
	// Open streams of peers that went away end now, not at their next
	// resync.
	m.server.PeersChanged()
	for _, run := range stopped {
		run.cancel()
		<-run.done
		if _, ok := want[run.cfg.Name]; !ok {
			for _, g := range []*prometheus.GaugeVec{m.connected, m.imported, m.synced, m.fresh} {
				g.DeleteLabelValues(run.cfg.Name)
			}
		}
	}
	if len(stopped) > 0 {
		m.changed()
	}
}

func stoppedPeer(stopped []*peerRun, name string) *peerRun {
	for _, r := range stopped {
		if r.cfg.Name == name {
			return r
		}
	}
	return nil
}

// sameBundle reports whether b trusts a's trust domain from the same
// initial bundle.
func sameBundle(a, b PeerConfig) bool {
	return a.Peer.TrustDomain == b.Peer.TrustDomain &&
		slices.EqualFunc(a.InitialBundle, b.InitialBundle, func(x, y *x509.Certificate) bool { return x.Equal(y) })
}

func samePeer(a, b PeerConfig) bool {
	if a.Peer.Cluster != b.Peer.Cluster || a.Peer.Operator != b.Peer.Operator || a.Peer.Endpoint != b.Peer.Endpoint ||
		a.Peer.Staleness != b.Peer.Staleness || !slices.Equal(a.Peer.Gateways, b.Peer.Gateways) || (a.Bundle == nil) != (b.Bundle == nil) {
		return false
	}
	if a.Bundle != nil && *a.Bundle != *b.Bundle {
		return false
	}
	return sameBundle(a, b)
}

// Imports are every peer's current imports, in peer name order.
func (m *Manager) Imports() []*model.Import {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.peers))
	for n := range m.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*model.Import
	for _, n := range names {
		out = append(out, m.peers[n].watcher.Status().Imports...)
	}
	return out
}

// Federated are the peers' trust bundles, by trust domain name, for
// workload certificates.
func (m *Manager) Federated() map[string][]*x509.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]*x509.Certificate{}
	for _, p := range m.peers {
		if roots := m.trust.Bundle(p.cfg.Peer.TrustDomain); len(roots) > 0 {
			out[p.cfg.Peer.TrustDomain.Name()] = roots
		}
	}
	return out
}

// Clusters names the cluster of each peer trust domain, for metrics.
func (m *Manager) Clusters() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.peers))
	for _, p := range m.peers {
		out[p.cfg.Peer.TrustDomain.Name()] = p.cfg.Peer.Cluster
	}
	return out
}

// States are the peers' statuses by MeshPeer name.
func (m *Manager) States() map[string]PeerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]PeerState, len(m.peers))
	for n, p := range m.peers {
		st := PeerState{PeerStatus: p.watcher.Status()}
		if p.bundles != nil {
			st.Bundle = p.bundles.Status()
		}
		out[n] = st
	}
	return out
}

// Peers are the peers federated with, in name order.
func (m *Manager) Peers() []PeerConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PeerConfig, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p.cfg)
	}
	slices.SortFunc(out, func(a, b PeerConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}
