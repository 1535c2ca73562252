package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// userRoot is a CA of the user's, as cert-manager or Vault would hold.
func userRoot(t *testing.T, pathLenZero bool) *Upstream {
	t.Helper()
	cert, key, err := NewCACertificate(&x509.Certificate{
		Subject: pkix.Name{CommonName: "Corp Root CA"}, MaxPathLenZero: pathLenZero,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Upstream{Chain: []*x509.Certificate{cert}, Key: key}
}

func TestIssuingFromAnUpstreamCA(t *testing.T) {
	up := userRoot(t, false)
	now := time.Now()
	s, err := NewRootState(td, now)
	if err != nil {
		t.Fatal(err)
	}
	s, changed, err := s.WithUpstream(td, up, now)
	if err != nil || !changed {
		t.Fatalf("WithUpstream: %v %v", changed, err)
	}
	ca, err := s.CA(td)
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.Roots()) != 1 || !ca.Roots()[0].Equal(up.Chain[0]) {
		t.Fatal("workloads must trust the user's root, and only it")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	chain, err := ca.Sign(csr, spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(up.Chain[0])
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("a workload certificate does not chain to the user's root: %v", err)
	}

	// The intermediate stays until it is due, then a new one is signed;
	// rotation requests do not apply to a user's root.
	if _, changed, _ := s.WithUpstream(td, up, now.Add(time.Hour)); changed {
		t.Error("a fresh intermediate was replaced")
	}
	renewed, changed, err := s.WithUpstream(td, up, now.Add(300*24*time.Hour))
	if err != nil || !changed || renewed.Chain[0].Equal(s.Chain[0]) || !renewed.Roots[0].Equal(up.Chain[0]) {
		t.Fatalf("a due intermediate: changed=%v %v", changed, err)
	}
	if _, changed, _ := s.Step(td, "rotate", time.Hour, now); changed {
		t.Error("a rotation request rotated a user-supplied root")
	}

	// A CA that cannot sign an intermediate says so.
	for name, bad := range map[string]*Upstream{
		"path length 0": userRoot(t, true),
		"wrong key":     {Chain: up.Chain, Key: userRoot(t, false).Key},
	} {
		if _, _, err := s.WithUpstream(td, bad, now); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "path length 0" && !strings.Contains(err.Error(), "pathLen") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
