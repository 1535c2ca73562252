package webhookcert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"time"

	"github.com/plexus-mesh/plexus/internal/identity"
)

// Keys of the Secret that holds the material.
const (
	KeyCABundle = "ca.crt"
	KeyCAKey    = "ca.key"
	KeyCert     = "tls.crt"
	KeyKey      = "tls.key"
)

// Lifetimes. The CA lives a year and the serving certificate a month; each
// is replaced once two thirds of its life has passed, so an operator that
// was down for days still finds valid material when it comes back.
const (
	caLifetime   = 365 * 24 * time.Hour
	certLifetime = 30 * 24 * time.Hour
)

// Material is the CA and serving certificate of the webhook.
type Material struct {
	// CAs are the trusted CAs, the signing one first. After a CA
	// rotation the previous CA stays until it expires, so callers holding
	// the old bundle keep trusting the server.
	CAs   []*x509.Certificate
	CAKey *ecdsa.PrivateKey
	// Cert is the serving certificate, signed by CAs[0].
	Cert *tls.Certificate
}

// Hosts are the names the serving certificate must carry: DNS names and
// IP addresses.
type Hosts []string

// Renewal says whether m must be replaced at now to serve hosts, and why;
// "" means it is good.
func Renewal(m *Material, hosts Hosts, now time.Time) string {
	if m == nil {
		return "no certificate yet"
	}
	ca, leaf := m.CAs[0], m.Cert.Leaf
	switch {
	case identity.PastTwoThirds(ca, now):
		return fmt.Sprintf("the CA expires at %s", ca.NotAfter.UTC().Format(time.RFC3339))
	case identity.PastTwoThirds(leaf, now):
		return fmt.Sprintf("the serving certificate expires at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case leaf.CheckSignatureFrom(ca) != nil:
		return "the serving certificate is not signed by the current CA"
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return fmt.Sprintf("the serving certificate does not name %s", h)
		}
	}
	return ""
}

// Renew returns material that serves hosts from now on. It keeps prev's CA
// while that is not due, and otherwise makes a new CA and keeps the old one
// in the bundle until it expires.
func Renew(prev *Material, hosts Hosts, now time.Time) (*Material, error) {
	m := &Material{}
	if prev != nil && !identity.PastTwoThirds(prev.CAs[0], now) {
		m.CAs, m.CAKey = prev.CAs, prev.CAKey
	} else {
		ca, key, err := newCA(now)
		if err != nil {
			return nil, err
		}
		m.CAs, m.CAKey = []*x509.Certificate{ca}, key
		if prev != nil {
			for _, old := range prev.CAs {
				if now.Before(old.NotAfter) {
					m.CAs = append(m.CAs, old)
				}
			}
		}
	}
	cert, err := identity.NewServingCertificate(m.CAs[0], m.CAKey, hosts, now.Add(-time.Minute), now.Add(certLifetime))
	if err != nil {
		return nil, err
	}
	m.Cert = cert
	return m, nil
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	ca, key, err := identity.NewCACertificate(&x509.Certificate{
		Subject:        pkix.Name{Organization: []string{"Plexus"}, CommonName: "plexus-webhook-ca " + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.Add(caLifetime),
		MaxPathLenZero: true,
	}, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the webhook CA: %w", err)
	}
	return ca, key, nil
}

// CABundle is the PEM bundle a webhook configuration's caBundle holds.
func (m *Material) CABundle() []byte { return identity.EncodeCertificates(m.CAs) }

// Data is the material as Secret data.
func (m *Material) Data() (map[string][]byte, error) {
	caKey, err := identity.EncodeKey(m.CAKey)
	if err != nil {
		return nil, err
	}
	key, err := identity.EncodeKey(m.Cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		KeyCABundle: m.CABundle(),
		KeyCAKey:    caKey,
		KeyCert:     identity.EncodeCertificates([]*x509.Certificate{m.Cert.Leaf}),
		KeyKey:      key,
	}, nil
}

// Parse reads material from Secret data.
func Parse(data map[string][]byte) (*Material, error) {
	cas, err := identity.ParseCertificates(data[KeyCABundle])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCABundle, err)
	}
	caKey, err := identity.ParseKey(data[KeyCAKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCAKey, err)
	}
	if !caKey.PublicKey.Equal(cas[0].PublicKey) {
		return nil, fmt.Errorf("%s does not belong to the first CA in %s", KeyCAKey, KeyCABundle)
	}
	cert, err := tls.X509KeyPair(data[KeyCert], data[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", KeyCert, KeyKey, err)
	}
	return &Material{CAs: slices.Clip(cas), CAKey: caKey, Cert: &cert}, nil
}
