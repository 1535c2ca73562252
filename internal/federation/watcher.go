package federation

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
	"github.com/plexus-mesh/plexus/internal/model"
)

// Peer is another cluster's mesh, as a MeshPeer declares it.
type Peer struct {
	Cluster     string
	TrustDomain spiffeid.TrustDomain
	// Endpoint is its federation API, "host:port".
	Endpoint string
	// Staleness is how long its imports are kept while it is unreachable.
	Staleness time.Duration
	// Gateways are its east-west gateways as the MeshPeer declares them;
	// they take precedence over the addresses the peer advertises.
	Gateways []netip.AddrPort
}

// PeerStatus is what a Watcher knows of its peer.
type PeerStatus struct {
	Connected bool
	// LastSync is when an export set last arrived.
	LastSync time.Time
	// Imports are the peer's exports; nil once withdrawn.
	Imports []*model.Import
	// Err is the last problem: the stream failing, or bad exports.
	Err error
}

// Watcher keeps one peer's exports: it watches them over the federation
// API, reconnects with backoff when the stream fails, and withdraws them
// once the peer has been unreachable for longer than its staleness limit.
type Watcher struct {
	Peer Peer
	// Self is this cluster's name, sent to the peer.
	Self     string
	Identity Identity
	// OnChange is called whenever Status changes.
	OnChange   func()
	Log        *slog.Logger
	MinBackoff time.Duration
	MaxBackoff time.Duration

	mu     sync.Mutex
	status PeerStatus
}

// Status returns the peer's current status.
func (w *Watcher) Status() PeerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

func (w *Watcher) update(f func(*PeerStatus)) {
	w.mu.Lock()
	f(&w.status)
	w.mu.Unlock()
	if w.OnChange != nil {
		w.OnChange()
	}
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	minB, maxB := w.MinBackoff, w.MaxBackoff
	if minB == 0 {
		minB = time.Second
	}
	if maxB == 0 {
		maxB = 30 * time.Second
	}
	backoff := minB
	for ctx.Err() == nil {
		synced, err := w.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if synced {
			backoff = minB
		}
		w.update(func(s *PeerStatus) { s.Connected, s.Err = false, err })
		w.Log.Warn("federation stream to peer failed", "peer", w.Peer.Cluster, "endpoint", w.Peer.Endpoint, "error", err, "retry_in", backoff)
		wait := backoff
		if st := w.Status(); st.Imports != nil {
			if left := time.Until(st.LastSync.Add(w.Peer.Staleness)); left <= 0 {
				w.Log.Warn("withdrawing a peer's imports: unreachable for longer than its staleness limit", "peer", w.Peer.Cluster, "staleness", w.Peer.Staleness)
				w.update(func(s *PeerStatus) { s.Imports = nil })
			} else {
				wait = min(wait, left)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxB)
	}
}

// watch holds one stream; it reports whether any export set arrived.
func (w *Watcher) watch(ctx context.Context) (bool, error) {
	tlsCfg := tlsconfig.MTLSClientConfig(w.Identity, w.Identity, operatorOf(w.Peer.TrustDomain))
	// The server name lets the peer's east-west gateway route the stream
	// to its operator, when the endpoint is the gateway.
	tlsCfg.ServerName = model.FederationServerName(w.Peer.TrustDomain.Name())
	creds := credentials.NewTLS(tlsCfg)
	conn, err := grpc.NewClient(w.Peer.Endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return false, fmt.Errorf("federation endpoint %s: %w", w.Peer.Endpoint, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := fedpb.NewFederationClient(conn).Watch(ctx, &fedpb.WatchRequest{Cluster: w.Self})
	if err != nil {
		return false, err
	}
	synced := false
	for {
		set, err := stream.Recv()
		if err != nil {
			return synced, err
		}
		imports, err := Imports(set, w.Peer)
		if imports == nil && err != nil {
			w.update(func(s *PeerStatus) { s.Connected, s.Err = true, err })
			continue // keep the last good imports
		}
		synced = true
		now := time.Now()
		w.update(func(s *PeerStatus) {
			s.Connected, s.LastSync, s.Imports, s.Err = true, now, imports, err
		})
	}
}
