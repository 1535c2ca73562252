package webhookcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
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
	renewAt      = 2.0 / 3
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
	case due(ca, now):
		return fmt.Sprintf("the CA expires at %s", ca.NotAfter.UTC().Format(time.RFC3339))
	case due(leaf, now):
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

func due(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return now.After(c.NotBefore.Add(time.Duration(float64(life) * renewAt)))
}

// Renew returns material that serves hosts from now on. It keeps prev's CA
// while that is not due, and otherwise makes a new CA and keeps the old one
// in the bundle until it expires.
func Renew(prev *Material, hosts Hosts, now time.Time) (*Material, error) {
	m := &Material{}
	if prev != nil && !due(prev.CAs[0], now) {
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
	cert, err := newServing(m.CAs[0], m.CAKey, hosts, now)
	if err != nil {
		return nil, err
	}
	m.Cert = cert
	return m, nil
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Plexus"}, CommonName: "plexus-webhook-ca " + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newServing(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts Hosts, now time.Time) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("the serving certificate needs at least one host name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"Plexus"}, CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the webhook serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil { // crypto/rand does not fail on Linux
		panic(err)
	}
	return n
}

// CABundle is the PEM bundle a webhook configuration's caBundle holds.
func (m *Material) CABundle() []byte {
	var b bytes.Buffer
	for _, c := range m.CAs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Data is the material as Secret data.
func (m *Material) Data() (map[string][]byte, error) {
	caKey, err := x509.MarshalECPrivateKey(m.CAKey)
	if err != nil {
		return nil, err
	}
	key, err := x509.MarshalECPrivateKey(m.Cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		KeyCABundle: m.CABundle(),
		KeyCAKey:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKey}),
		KeyCert:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Cert.Certificate[0]}),
		KeyKey:      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key}),
	}, nil
}

// Parse reads material from Secret data.
func Parse(data map[string][]byte) (*Material, error) {
	var cas []*x509.Certificate
	rest := data[KeyCABundle]
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyCABundle, err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", KeyCABundle)
	}
	block, _ := pem.Decode(data[KeyCAKey])
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", KeyCAKey)
	}
	caKey, err := x509.ParseECPrivateKey(block.Bytes)
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
