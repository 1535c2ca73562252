package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// RootLifetime is how long a root the CA makes for itself is valid.
const RootLifetime = 10 * 365 * 24 * time.Hour

// CA signs workload certificates for one trust domain.
type CA struct {
	td spiffeid.TrustDomain
	// chain is the signing certificate, then any intermediates up to (not
	// including) the root.
	chain []*x509.Certificate
	key   crypto.Signer
	// roots are the trust domain's roots: the one chain leads to, and
	// during a rotation the others still trusted.
	roots []*x509.Certificate
}

// NewRoot makes a self-signed ECDSA P-256 root for td.
func NewRoot(td spiffeid.TrustDomain, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	root, key, err := NewCACertificate(&x509.Certificate{
		Subject:   pkix.Name{Organization: []string{"Plexus"}, CommonName: "Plexus root CA for " + td.Name()},
		NotBefore: now.Add(-time.Minute),
		NotAfter:  now.Add(RootLifetime),
		URIs:      []*url.URL{td.ID().URL()},
	}, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the root CA: %w", err)
	}
	return root, key, nil
}

// New returns a CA that signs with key, whose certificate is chain[0];
// chain ends just below one of roots.
func New(td spiffeid.TrustDomain, chain []*x509.Certificate, key crypto.Signer, roots []*x509.Certificate) (*CA, error) {
	if len(chain) == 0 || len(roots) == 0 {
		return nil, errors.New("a CA needs a signing certificate and at least one root")
	}
	if !publicKeyEqual(chain[0].PublicKey, key.Public()) {
		return nil, errors.New("the CA key does not belong to its certificate")
	}
	if !chain[0].IsCA {
		return nil, errors.New("the signing certificate is not a CA certificate")
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("the signing certificate does not chain to the roots: %w", err)
	}
	return &CA{td: td, chain: chain, key: key, roots: roots}, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// TrustDomain is the CA's trust domain.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// Roots are the trust bundle workloads verify peers with.
func (ca *CA) Roots() []*x509.Certificate { return ca.roots }

// NotAfter is when the signing certificate expires; no certificate the CA
// issues outlives it.
func (ca *CA) NotAfter() time.Time { return ca.chain[0].NotAfter }

// CSRError is a CSR the CA refuses; the caller sent something wrong.
type CSRError struct{ msg string }

func (e *CSRError) Error() string { return e.msg }

// Sign issues a certificate for id to the key of the PKCS#10 request csr
// (PEM or DER), valid for ttl from now and never past the CA's own
// expiry. It returns the certificate followed by the CA's chain.
func (ca *CA) Sign(csr []byte, id spiffeid.ID, ttl time.Duration, now time.Time) ([]*x509.Certificate, error) {
	if !id.MemberOf(ca.td) {
		return nil, &CSRError{fmt.Sprintf("%s is not in trust domain %s", id, ca.td)}
	}
	req, err := parseCSR(csr)
	if err != nil {
		return nil, &CSRError{err.Error()}
	}
	for _, u := range req.URIs {
		if u.String() != id.String() {
			return nil, &CSRError{fmt.Sprintf("the CSR asks for %s but the credential proves %s", u, id)}
		}
	}
	if len(req.DNSNames)+len(req.IPAddresses)+len(req.EmailAddresses) > 0 {
		return nil, &CSRError{"the CSR asks for DNS names, IP addresses or email addresses; workload certificates carry only a SPIFFE ID"}
	}
	if _, ok := req.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, &CSRError{fmt.Sprintf("the CSR's key is %T: use an ECDSA P-256 key", req.PublicKey)}
	}
	notAfter := now.Add(ttl)
	if notAfter.After(ca.NotAfter()) {
		notAfter = ca.NotAfter()
	}
	tmpl := &x509.Certificate{
		SerialNumber: SerialNumber(),
		Subject:      pkix.Name{Organization: []string{"Plexus"}},
		NotBefore:    now.Add(-time.Minute), // tolerate clocks a little behind
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.chain[0], req.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("signing for %s: %w", id, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return append([]*x509.Certificate{leaf}, ca.chain...), nil
}

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("the CSR is a PEM %q block, want CERTIFICATE REQUEST", block.Type)
		}
		data = block.Bytes
	}
	req, err := x509.ParseCertificateRequest(data)
	if err != nil {
		return nil, fmt.Errorf("the CSR does not parse: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the CSR's signature is invalid: %w", err)
	}
	return req, nil
}

// WorkloadID is the SPIFFE ID of a Kubernetes service account.
func WorkloadID(td spiffeid.TrustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
}
