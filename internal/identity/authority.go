package identity

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Store keeps a CA's state.
type Store interface {
	// Load returns the state of td's CA, creating a new root when there
	// is none.
	Load(ctx context.Context, td spiffeid.TrustDomain) (*RootState, error)
	// Save replaces the state; it fails rather than overwrite a state
	// saved meanwhile by someone else.
	Save(ctx context.Context, s *RootState) error
}

// Authority holds the CA in effect, which follows the mesh (its trust
// domain, certificate lifetime and root rotation requests) and its store.
type Authority struct {
	store Store
	// mayWrite reports whether this process may advance rotations (it
	// leads); nil means always.
	mayWrite func() bool
	now      func() time.Time

	mu       sync.RWMutex
	ca       *CA
	td       spiffeid.TrustDomain
	ttl      time.Duration
	request  string
	upstream UpstreamSource
}

// NewAuthority returns an Authority over store.
func NewAuthority(store Store, mayWrite func() bool) *Authority {
	return &Authority{store: store, mayWrite: mayWrite, now: time.Now, ttl: 24 * time.Hour}
}

// CA returns the CA in effect, nil before the first mesh.
func (a *Authority) CA() *CA {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ca
}

// TTL returns the workload certificate lifetime in effect.
func (a *Authority) TTL() time.Duration {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ttl
}

// Follow takes the mesh's trust domain, certificate lifetime and root
// rotation request ("" for none), then syncs.
func (a *Authority) Follow(ctx context.Context, trustDomain string, ttl time.Duration, rotation string) error {
	return a.FollowWith(ctx, trustDomain, ttl, rotation, nil)
}

// FollowWith is Follow with an upstream CA (nil for none): the CA then
// issues from an intermediate the upstream signs.
func (a *Authority) FollowWith(ctx context.Context, trustDomain string, ttl time.Duration, rotation string, upstream UpstreamSource) error {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	a.mu.Lock()
	a.td, a.request, a.upstream = td, rotation, upstream
	if ttl > 0 {
		a.ttl = ttl
	}
	a.mu.Unlock()
	return a.Sync(ctx)
}

// Sync reads the CA's state, advances a rotation when it is time (and
// this process may), and puts the result in effect.
func (a *Authority) Sync(ctx context.Context) error {
	a.mu.RLock()
	td, ttl, request, upstream := a.td, a.ttl, a.request, a.upstream
	a.mu.RUnlock()
	if td.IsZero() {
		return nil // no mesh yet
	}
	state, err := a.store.Load(ctx, td)
	if err != nil {
		return fmt.Errorf("loading the CA of %s: %w", td, err)
	}
	if a.mayWrite == nil || a.mayWrite() {
		var next *RootState
		var changed bool
		if upstream != nil {
			up, err := upstream(ctx)
			if err != nil {
				return fmt.Errorf("the upstream CA: %w", err)
			}
			next, changed, err = state.WithUpstream(td, up, a.now())
			if err != nil {
				return fmt.Errorf("the upstream CA: %w", err)
			}
		} else if next, changed, err = state.Step(td, request, ttl, a.now()); err != nil {
			return err
		}
		if changed {
			if err := a.store.Save(ctx, next); err != nil {
				return fmt.Errorf("saving the CA of %s: %w", td, err)
			}
			state = next
		}
	}
	ca, err := state.CA(td)
	if err != nil {
		return fmt.Errorf("the CA of %s: %w", td, err)
	}
	a.mu.Lock()
	a.ca = ca
	a.mu.Unlock()
	return nil
}

// Run syncs every interval until ctx ends, so that rotations advance and
// every replica follows them.
func (a *Authority) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Sync(ctx); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
