package identity

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Loader returns the CA of a trust domain, creating it on first use.
type Loader func(ctx context.Context, td spiffeid.TrustDomain) (*CA, error)

// Authority holds the CA in effect and the certificate lifetime, which
// follow the mesh: the CA appears once a mesh names its trust domain.
type Authority struct {
	load Loader

	mu  sync.RWMutex
	ca  *CA
	ttl time.Duration
}

// NewAuthority returns an Authority that loads CAs with load.
func NewAuthority(load Loader) *Authority {
	return &Authority{load: load, ttl: 24 * time.Hour}
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

// Follow makes the CA of trustDomain the one in effect, loading it if
// needed, and sets the lifetime of new certificates.
func (a *Authority) Follow(ctx context.Context, trustDomain string, ttl time.Duration) error {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	a.mu.RLock()
	same := a.ca != nil && a.ca.TrustDomain() == td
	a.mu.RUnlock()
	var ca *CA
	if !same {
		if ca, err = a.load(ctx, td); err != nil {
			return fmt.Errorf("loading the CA of %s: %w", td, err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ca != nil {
		a.ca = ca
	}
	if ttl > 0 {
		a.ttl = ttl
	}
	return nil
}
