package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
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

type caError string

func (e caError) Error() string { return string(e) }

const errNoCA = caError("the mesh CA is not ready yet: create a Mesh")

func (ca *CA) serving(hosts []string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"Plexus"}, CommonName: "plexus control plane"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(servingLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter()) {
		tmpl.NotAfter = ca.NotAfter()
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.chain[0], &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	chain := [][]byte{der}
	for _, c := range ca.chain {
		chain = append(chain, c.Raw)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}
