package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// SelfSVID issues the CA's own process a certificate for id, with a key
// that never leaves memory: the operator authenticates to its peers (the
// federation API, the bundle endpoint) with it.
func (ca *CA) SelfSVID(id spiffeid.ID, ttl time.Duration, now time.Time) (*SVID, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, err
	}
	chain, err := ca.Sign(csr, id, ttl, now)
	if err != nil {
		return nil, fmt.Errorf("issuing the operator's own certificate: %w", err)
	}
	return &SVID{ID: id, Chain: chain, Key: key, Bundle: ca.Roots()}, nil
}
