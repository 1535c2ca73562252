package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
	"time"
)

// servingLifetime is the life of the certificate service's own TLS
// certificate; it is renewed at half life.
const servingLifetime = 24 * time.Hour

// ServingCertificates gives the certificate service (and any other
// control plane endpoint) a TLS certificate from the mesh CA for hosts,
// renewed at half life, so proxies verify it with the trust bundle they
// already hold.
type ServingCertificates struct {
	CA    func() *CA
	Hosts []string
	Now   func() time.Time

	mu     sync.Mutex
	cert   *tls.Certificate
	issuer *x509.Certificate
}

// GetCertificate fits tls.Config.GetCertificate.
func (s *ServingCertificates) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ca := s.CA()
	if ca == nil {
		return nil, errNoCA
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && s.issuer.Equal(ca.chain[0]) {
		leaf := s.cert.Leaf
		if now().Before(leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)) {
			return s.cert, nil
		}
	}
	cert, err := ca.serving(s.Hosts, now())
	if err != nil {
		return nil, err
	}
	s.cert, s.issuer = cert, ca.chain[0]
	return cert, nil
}

var errNoCA = errors.New("the mesh CA is not ready yet: create a Mesh")

func (ca *CA) serving(hosts []string, now time.Time) (*tls.Certificate, error) {
	notAfter := now.Add(servingLifetime)
	if notAfter.After(ca.NotAfter()) {
		notAfter = ca.NotAfter()
	}
	cert, err := NewServingCertificate(ca.chain[0], ca.key, hosts, now.Add(-time.Minute), notAfter)
	if err != nil {
		return nil, err
	}
	for _, c := range ca.chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}
