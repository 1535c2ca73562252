package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/identity/capb"
)

var td = spiffeid.RequireTrustDomainFromString("east.example")

type fixture struct {
	ca      *CA
	joinKey []byte
	conn    *grpc.ClientConn
	server  *Server
	logs    *syncBuffer
	ttl     atomic.Int64
	// federated is what the CA sends as peers' bundles.
	federated atomic.Pointer[map[string][]*x509.Certificate]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startCA serves the certificate service over TLS on a real socket, with
// a CA kept in a directory as local mode keeps it.
func startCA(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := LoadOrCreateFiles(dir, td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := JoinKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ca: ca, joinKey: key, logs: &syncBuffer{}}
	f.ttl.Store(int64(time.Hour))
	f.server = NewServer(ServerConfig{
		CA: func() *CA { return ca }, Authenticator: &JoinTokens{Key: key, TrustDomain: td},
		TTL: func() time.Duration { return time.Duration(f.ttl.Load()) },
		Federated: func() map[string][]*x509.Certificate {
			if m := f.federated.Load(); m != nil {
				return *m
			}
			return nil
		},
		Log: slog.New(slog.NewTextHandler(f.logs, nil)), Registerer: prometheus.NewRegistry(),
	})
	serving := &ServingCertificates{CA: func() *CA { return ca }, Hosts: []string{"127.0.0.1"}}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: serving.GetCertificate, MinVersion: tls.VersionTLS12})))
	capb.RegisterCertificatesServer(g, f.server)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	// The client trusts only the mesh's roots, as a proxy does.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(EncodeCertificates(ca.Roots()))
	f.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.conn.Close() })
	return f
}

func (f *fixture) token(t *testing.T, id string) string {
	t.Helper()
	tok, err := MintJoinToken(f.joinKey, spiffeid.RequireFromString(id), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) client(cred func() (string, error)) *Client {
	return NewClient(ClientConfig{Conn: f.conn, Credential: cred, Log: slog.New(slog.DiscardHandler), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
}

func TestIssuance(t *testing.T) {
	f := startCA(t)
	tok := f.token(t, "spiffe://east.example/ns/shop/sa/reviews")
	svid, err := f.client(func() (string, error) { return tok, nil }).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != "spiffe://east.example/ns/shop/sa/reviews" {
		t.Fatalf("issued %s", svid.ID)
	}
	leaf := svid.Chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != svid.ID.String() {
		t.Fatalf("certificate URIs %v", leaf.URIs)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < time.Hour || life > time.Hour+2*time.Minute {
		t.Errorf("certificate lives %s, want the configured hour", life)
	}
	pool := x509.NewCertPool()
	for _, r := range svid.Bundle {
		pool.AddCert(r)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not verify against the bundle: %v", err)
	}
	if got := testutil.ToFloat64(f.server.issued.WithLabelValues("issued")); got != 1 {
		t.Errorf("issued counter %v", got)
	}
}

// Workloads receive the bundles of federated trust domains with their
// certificate, and nothing for their own domain twice.
func TestIssuanceCarriesFederatedBundles(t *testing.T) {
	f := startCA(t)
	west, _, err := NewRoot(spiffeid.RequireTrustDomainFromString("west.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.federated.Store(&map[string][]*x509.Certificate{"west.example": {west}, "east.example": f.ca.Roots()})
	tok := f.token(t, "spiffe://east.example/ns/shop/sa/reviews")
	svid, err := f.client(func() (string, error) { return tok, nil }).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(svid.Federated) != 1 || len(svid.Federated["west.example"]) != 1 || !svid.Federated["west.example"][0].Equal(west) {
		t.Fatalf("federated bundles %v, want west.example's root only", svid.Federated)
	}
}

func TestRefusals(t *testing.T) {
	f := startCA(t)
	sign := func(csr []byte, cred string) error {
		_, err := capb.NewCertificatesClient(f.conn).Sign(t.Context(), &capb.SignRequest{Csr: csr, Credential: cred})
		return err
	}
	reviews := f.token(t, "spiffe://east.example/ns/shop/sa/reviews")
	other, err := MintJoinToken(bytes.Repeat([]byte{7}, 32), spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, err := MintJoinToken(f.joinKey, spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	foreign := f.token(t, "spiffe://west.example/ns/shop/sa/reviews")
	cases := map[string]struct {
		csr  []byte
		cred string
		code codes.Code
		want string
	}{
		"other identity in the CSR": {csrFor(t, "spiffe://east.example/ns/shop/sa/payments"), reviews, codes.PermissionDenied, "the CSR asks for spiffe://east.example/ns/shop/sa/payments but the credential proves spiffe://east.example/ns/shop/sa/reviews"},
		"dns names in the CSR":      {csrWithDNS(t), reviews, codes.PermissionDenied, "DNS names"},
		"garbage CSR":               {[]byte("junk"), reviews, codes.PermissionDenied, "does not parse"},
		"forged token":              {csrFor(t, ""), other, codes.Unauthenticated, "signature is not valid"},
		"expired token":             {csrFor(t, ""), expired, codes.Unauthenticated, "expired"},
		"no token":                  {csrFor(t, ""), "", codes.Unauthenticated, "not a join token"},
		"other trust domain":        {csrFor(t, ""), foreign, codes.Unauthenticated, "outside trust domain east.example"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := sign(c.csr, c.cred)
			if s, _ := status.FromError(err); s.Code() != c.code || !strings.Contains(s.Message(), c.want) {
				t.Fatalf("Sign: %v, want %s saying %q", err, c.code, c.want)
			}
		})
	}
	// A request for someone else's identity is logged with who asked.
	if logs := f.logs.String(); !strings.Contains(logs, "refused a certificate request") || !strings.Contains(logs, "identity=spiffe://east.example/ns/shop/sa/reviews") {
		t.Errorf("the refusal was not logged:\n%s", logs)
	}
}

func csrFor(t *testing.T, uri string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{}
	if uri != "" {
		u, _ := url.Parse(uri)
		tmpl.URIs = []*url.URL{u}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func csrWithDNS(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"evil.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

type observer struct {
	mu       sync.Mutex
	failures int
	ok       int
}

func (o *observer) CertificateFetched(err error, _ time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failures++
	} else {
		o.ok++
	}
}

// The client retries failures with backoff and renews at half life.
func TestClientRetriesAndRenews(t *testing.T) {
	f := startCA(t)
	f.ttl.Store(int64(2 * time.Second)) // renewals every second
	tok := f.token(t, "spiffe://east.example/ns/shop/sa/reviews")
	var calls atomic.Int32
	cred := func() (string, error) {
		if calls.Add(1) <= 3 {
			return "", errors.New("token file not mounted yet")
		}
		return tok, nil
	}
	obs := &observer{}
	c := f.client(cred)
	c.cfg.Observer = obs
	got := make(chan *SVID, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go c.Run(ctx, func(s *SVID) { got <- s })
	first := <-got
	second := <-got
	if first.Chain[0].SerialNumber.Cmp(second.Chain[0].SerialNumber) == 0 || first.Key.Equal(second.Key) {
		t.Fatal("the renewal reused the certificate or the key")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.failures != 3 || obs.ok < 2 {
		t.Fatalf("observer saw %d failures and %d successes, want 3 and at least 2", obs.failures, obs.ok)
	}
}

func TestJoinTokenLimits(t *testing.T) {
	id := spiffeid.RequireFromString("spiffe://east.example/ns/a/sa/b")
	if _, err := MintJoinToken([]byte("short"), id, time.Hour, time.Now()); err == nil {
		t.Error("a short key was accepted")
	}
	if _, err := MintJoinToken(bytes.Repeat([]byte{1}, 32), id, 48*time.Hour, time.Now()); err == nil {
		t.Error("a two-day token was minted")
	}
}

// A CA directory is reused, not replaced, on the next start.
func TestFilesPersist(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateFiles(dir, td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateFiles(dir, td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Roots()[0].Equal(b.Roots()[0]) {
		t.Fatal("the CA changed across restarts")
	}
}

// A workload learns of a new peer's bundle between certificates.
func TestWatchBundlesFollowsTheCA(t *testing.T) {
	f := startCA(t)
	c := f.client(func() (string, error) { return "", nil })
	got := make(chan *Bundles, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go c.WatchBundles(ctx, 20*time.Millisecond, func() (spiffeid.TrustDomain, bool) { return td, true }, func(b *Bundles) { got <- b })
	first := <-got
	if len(first.Own) != 1 || len(first.Federated) != 0 {
		t.Fatalf("first bundles %+v", first)
	}
	west, _, err := NewRoot(spiffeid.RequireTrustDomainFromString("west.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.federated.Store(&map[string][]*x509.Certificate{"west.example": {west}})
	select {
	case b := <-got:
		if len(b.Federated["west.example"]) != 1 {
			t.Fatalf("bundles %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new peer's bundle never arrived")
	}
	select {
	case b := <-got:
		t.Fatalf("bundles reported again without a change: %+v", b)
	case <-time.After(200 * time.Millisecond):
	}
}
