package federation

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sync"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/plexus-mesh/plexus/internal/identity"
)

// Trust is an operator's Identity: its own SVID and the trust bundles it
// knows (its own trust domain's, and each peer's), all replaceable while
// in use.
type Trust struct {
	mu      sync.RWMutex
	svid    *x509svid.SVID
	bundles map[spiffeid.TrustDomain][]*x509.Certificate
}

// NewTrust starts with no SVID and no bundles.
func NewTrust() *Trust {
	return &Trust{bundles: map[spiffeid.TrustDomain][]*x509.Certificate{}}
}

// SetSVID installs the operator's SVID and its own trust domain's roots.
func (t *Trust) SetSVID(s *identity.SVID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.svid = &x509svid.SVID{ID: s.ID, Certificates: s.Chain, PrivateKey: s.Key}
	t.bundles[s.ID.TrustDomain()] = s.Bundle
}

// UpdateBundle installs a trust domain's roots when they differ from those
// it has (a root rotation, a refreshed peer bundle); it reports whether
// they did.
func (t *Trust) UpdateBundle(td spiffeid.TrustDomain, roots []*x509.Certificate) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.EqualFunc(t.bundles[td], roots, func(a, b *x509.Certificate) bool { return a.Equal(b) }) {
		return false
	}
	t.bundles[td] = roots
	return true
}

// DeleteBundle stops trusting a peer trust domain.
func (t *Trust) DeleteBundle(td spiffeid.TrustDomain) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.bundles, td)
}

// Bundle returns a trust domain's roots, if known.
func (t *Trust) Bundle(td spiffeid.TrustDomain) []*x509.Certificate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bundles[td]
}

// GetX509SVID implements x509svid.Source.
func (t *Trust) GetX509SVID() (*x509svid.SVID, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.svid == nil {
		return nil, fmt.Errorf("the operator has no certificate of its own yet")
	}
	return t.svid, nil
}

// GetX509BundleForTrustDomain implements x509bundle.Source.
func (t *Trust) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	roots, ok := t.bundles[td]
	if !ok || len(roots) == 0 {
		return nil, fmt.Errorf("no trust bundle for trust domain %q: it is neither this mesh's nor a peer's", td)
	}
	return x509bundle.FromX509Authorities(td, roots), nil
}
