package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// intermediateLifetime is how long an intermediate signed by a
// user-supplied root lives (never past that root); it is replaced when
// two thirds of its life have passed.
const intermediateLifetime = 365 * 24 * time.Hour

// Upstream is a CA the user supplies (from cert-manager, Vault...): the
// mesh CA then issues from an intermediate it signs.
type Upstream struct {
	// Chain is the user's CA certificate, then any certificates up to
	// the root.
	Chain []*x509.Certificate
	Key   crypto.Signer
	// Roots are the trust anchors workloads verify with: the top of the
	// chain unless given.
	Roots []*x509.Certificate
}

// UpstreamSource returns the upstream CA in effect.
type UpstreamSource func(ctx context.Context) (*Upstream, error)

// Validate checks the upstream can sign an intermediate.
func (u *Upstream) Validate() error {
	if len(u.Chain) == 0 || u.Key == nil {
		return errors.New("the upstream CA needs a certificate and its key")
	}
	c := u.Chain[0]
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("the upstream certificate is not a CA certificate (basicConstraints CA and keyCertSign)")
	}
	if !publicKeyEqual(c.PublicKey, u.Key.Public()) {
		return errors.New("the upstream key does not belong to its certificate")
	}
	if c.MaxPathLenZero {
		return errors.New("the upstream CA has pathLen 0: it cannot sign the mesh's intermediate; issue one with pathLen >= 1")
	}
	if len(u.Roots) == 0 {
		u.Roots = u.Chain[len(u.Chain)-1:]
	}
	return nil
}

// WithUpstream returns s issuing from an intermediate of up: unchanged
// while its intermediate is signed by up and not due for renewal, else
// with a new one. Workloads then trust up's roots.
func (s *RootState) WithUpstream(td spiffeid.TrustDomain, up *Upstream, now time.Time) (*RootState, bool, error) {
	if err := up.Validate(); err != nil {
		return nil, false, err
	}
	if len(s.Chain) > 0 && s.Chain[0].CheckSignatureFrom(up.Chain[0]) == nil && !PastTwoThirds(s.Chain[0], now) {
		return s, false, nil
	}
	inter, key, err := newIntermediate(td, up, now)
	if err != nil {
		return nil, false, err
	}
	return &RootState{
		Chain: append([]*x509.Certificate{inter}, up.Chain...), Key: key, Roots: up.Roots,
		Handled: s.Handled, Since: now,
	}, true, nil
}

func newIntermediate(td spiffeid.TrustDomain, up *Upstream, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	notAfter := now.Add(intermediateLifetime)
	if parent := up.Chain[0].NotAfter; notAfter.After(parent) {
		notAfter = parent
	}
	inter, key, err := NewCACertificate(&x509.Certificate{
		Subject:        pkix.Name{Organization: []string{"Plexus"}, CommonName: "Plexus intermediate CA for " + td.Name()},
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       notAfter,
		MaxPathLenZero: true,
		URIs:           []*url.URL{td.ID().URL()},
	}, up.Chain[0], up.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the mesh's intermediate with the upstream CA: %w", err)
	}
	return inter, key, nil
}
