package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
	"github.com/plexus-mesh/plexus/internal/model"
)

// Peer is another cluster's mesh, as a MeshPeer declares it.
type Peer struct {
	Cluster     string
	TrustDomain spiffeid.TrustDomain
	// Operator is the identity its federation API must present, and the
	// only one of its trust domain allowed to watch this cluster's exports.
	Operator spiffeid.ID
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
	// OnChange is called when the imports, the connection or the error
	// change; OnSync when only LastSync moved (an unchanged resend).
	OnChange, OnSync func()
	Log              *slog.Logger
	MinBackoff       time.Duration
	MaxBackoff       time.Duration
	// Silence is how long the stream may carry nothing before it is taken
	// for dead and reconnected: the peer resends every DefaultResync.
	// Default: 3 × DefaultResync.
	Silence time.Duration

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
	before := w.status
	f(&w.status)
	after := w.status
	w.mu.Unlock()
	if before.Connected != after.Connected || errText(before.Err) != errText(after.Err) ||
		(before.Imports == nil) != (after.Imports == nil) || !reflect.DeepEqual(before.Imports, after.Imports) {
		if w.OnChange != nil {
			w.OnChange()
		}
	} else if !before.LastSync.Equal(after.LastSync) && w.OnSync != nil {
		w.OnSync()
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// watcherKeepalive is how often an idle federation connection is pinged,
// so a connection that silently died is noticed between resyncs.
const watcherKeepalive = 30 * time.Second

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	minB, maxB := w.MinBackoff, w.MaxBackoff
	if minB == 0 {
		minB = time.Second
	}
	if maxB == 0 {
		maxB = 30 * time.Second
	}
	done := make(chan struct{})
	defer func() { <-done }()
	go func() { defer close(done); w.expire(ctx) }()
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
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxB)
	}
}

// expire withdraws the imports once no acceptable export set has arrived
// for longer than the staleness limit: the peer is unreachable, or keeps
// sending sets that are refused.
func (w *Watcher) expire(ctx context.Context) {
	tick := min(max(w.Peer.Staleness/10, 10*time.Millisecond), 10*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := w.Status(); st.Imports != nil && time.Since(st.LastSync) > w.Peer.Staleness {
			w.Log.Warn("withdrawing a peer's imports: nothing acceptable received for longer than its staleness limit", "peer", w.Peer.Cluster, "staleness", w.Peer.Staleness, "last_sync", st.LastSync)
			w.update(func(s *PeerStatus) {
				s.Imports = nil
				if s.Err == nil {
					s.Err = fmt.Errorf("imports withdrawn: nothing received since %s (staleness limit %s)", st.LastSync.Format(time.RFC3339), w.Peer.Staleness)
				}
			})
		}
	}
}

// watch holds one stream; it reports whether any export set arrived.
func (w *Watcher) watch(ctx context.Context) (bool, error) {
	tlsCfg := tlsconfig.MTLSClientConfig(w.Identity, w.Identity, tlsconfig.AuthorizeID(w.Peer.Operator))
	// The server name lets the peer's east-west gateway route the stream
	// to its operator, when the endpoint is the gateway.
	tlsCfg.ServerName = model.FederationServerName(w.Peer.TrustDomain.Name())
	creds := credentials.NewTLS(tlsCfg)
	conn, err := grpc.NewClient(w.Peer.Endpoint, grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: watcherKeepalive, Timeout: 10 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		return false, fmt.Errorf("federation endpoint %s: %w", w.Peer.Endpoint, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silence := w.Silence
	if silence == 0 {
		silence = 3 * DefaultResync
	}
	errSilent := fmt.Errorf("the peer sent nothing for %s (it resends every %s): reconnecting", silence, DefaultResync)
	deadline := time.AfterFunc(silence, func() { cancel(errSilent) })
	defer deadline.Stop()
	stream, err := fedpb.NewFederationClient(conn).Watch(ctx, &fedpb.WatchRequest{Cluster: w.Self})
	if err != nil {
		return false, err
	}
	synced := false
	for {
		set, err := stream.Recv()
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errSilent) {
				return synced, cause
			}
			return synced, err
		}
		deadline.Reset(silence)
		imports, err := Imports(set, w.Peer)
		if imports == nil && err != nil {
			// Keep the last good imports: they age out with the staleness
			// limit if nothing acceptable follows.
			w.update(func(s *PeerStatus) { s.Connected, s.Err = true, err })
			continue
		}
		synced = true
		now := time.Now()
		w.update(func(s *PeerStatus) {
			s.Connected, s.LastSync, s.Imports, s.Err = true, now, imports, err
		})
	}
}
