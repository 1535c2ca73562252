package tlsconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

var td = spiffeid.RequireTrustDomainFromString("east.example")

// material is a proxy's secrets, changeable at any time.
type material struct {
	mu      sync.Mutex
	secrets map[string]*config.Secret
}

func (m *material) Secret(name string) *config.Secret {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.secrets[name]
}

func (m *material) set(s *config.Secret) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[s.Name] = s
}

func newCA(t testing.TB) *identity.CA {
	t.Helper()
	return newCAIn(t, td)
}

// newCAIn is a self-signed CA of trust domain in.
func newCAIn(t testing.TB, in spiffeid.TrustDomain) *identity.CA {
	t.Helper()
	root, key, err := identity.NewRoot(in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.New(in, []*x509.Certificate{root}, key, []*x509.Certificate{root})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// proxyMaterial holds an SVID for path in ca's trust domain from ca, and
// ca's roots.
func proxyMaterial(t testing.TB, ca *identity.CA, path string) *material {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromPath(ca.TrustDomain(), path)
	chain, err := ca.Sign(csr, id, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := &material{secrets: map[string]*config.Secret{}}
	m.set(&config.Secret{Name: "default", SVID: &x509svid.SVID{ID: id, Certificates: chain, PrivateKey: key}})
	m.set(&config.Secret{Name: "ROOTCA", Roots: ca.Roots()})
	return m
}

// startServer serves mTLS as spiffe://east.example/ns/shop/sa/reviews with
// a certificate from ca: each connection gets one byte after the handshake
// (which also delivers the TLS 1.3 session ticket), then stays until the
// client closes it.
func startServer(t *testing.T, ca *identity.CA) (net.Listener, *material) {
	t.Helper()
	m := proxyMaterial(t, ca, "/ns/shop/sa/reviews")
	serverCfg, err := Server(m, &config.DownstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := serve(t, serverCfg)
	return ln, m
}

// serve accepts TLS with cfg, as startServer describes; the outcome of
// each server handshake goes to the channel (dropped when it is full).
func serve(t *testing.T, cfg *tls.Config) (net.Listener, <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	handshakes := make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.(*tls.Conn).HandshakeContext(ctx)
				cancel()
				select {
				case handshakes <- err:
				default:
				}
				if err != nil {
					return
				}
				_, _ = c.Write([]byte{1})
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln, handshakes
}

// dialTLS makes one connection with cfg and reads the server's byte: in
// TLS 1.3 the server refuses a client certificate only after the client's
// side of the handshake is done.
func dialTLS(cfg *tls.Config, addr string) (resumed bool, err error) {
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return false, err
	}
	return c.(*tls.Conn).ConnectionState().DidResume, nil
}

// TestSessionResumption: a second connection to the same endpoint resumes
// the session, and a resumed session is verified again, so a trust bundle
// that no longer vouches for the server ends it.
func TestSessionResumption(t *testing.T) {
	ca := newCA(t)
	ln, _ := startServer(t, ca)

	client := proxyMaterial(t, ca, "/ns/shop/sa/productpage")
	clientCfg, err := Client(client, &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/shop/sa/reviews"}}, []string{"h2"})
	if err != nil {
		t.Fatal(err)
	}
	connect := func() (resumed bool, err error) { return dialTLS(clientCfg, ln.Addr().String()) }
	if resumed, err := connect(); err != nil || resumed {
		t.Fatalf("first connection: resumed=%v, %v; want a full handshake", resumed, err)
	}
	if resumed, err := connect(); err != nil || !resumed {
		t.Fatalf("second connection: resumed=%v, %v; want the session resumed", resumed, err)
	}
	// A new certificate of the client's (a rotation) starts new sessions,
	// so the server sees it at once.
	client.set(proxyMaterial(t, ca, "/ns/shop/sa/productpage").Secret("default"))
	if resumed, err := connect(); err != nil || resumed {
		t.Fatalf("after the client's certificate changed: resumed=%v, %v; want a full handshake", resumed, err)
	}
	if resumed, err := connect(); err != nil || !resumed {
		t.Fatalf("then: resumed=%v, %v; want the new session resumed", resumed, err)
	}
	// The client's trust bundle no longer holds the server's root: a
	// resumed session must not get around that.
	client.set(&config.Secret{Name: "ROOTCA", Roots: newCA(t).Roots()})
	if _, err := connect(); err == nil {
		t.Fatal("a session resumed against a trust bundle that no longer vouches for the server")
	}
}

// TestIntermediateCA: sidecars whose certificates come from the mesh's
// intermediate under a user-supplied root complete mTLS, each trusting
// only that root.
func TestIntermediateCA(t *testing.T) {
	root, key, err := identity.NewRoot(td, time.Now()) // stands for the user's CA
	if err != nil {
		t.Fatal(err)
	}
	state, err := identity.NewRootState(td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	state, _, err = state.WithUpstream(td, &identity.Upstream{Chain: []*x509.Certificate{root}, Key: key}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := state.CA(td)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := startServer(t, ca)
	clientCfg, err := Client(proxyMaterial(t, ca, "/ns/shop/sa/productpage"), &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/shop/sa/reviews"}}, []string{"h2"})
	if err != nil {
		t.Fatal(err)
	}
	d := tls.Dialer{Config: clientCfg}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("mTLS through the intermediate: %v", err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("mTLS through the intermediate: %v", err)
	}
}

// TestVerifiedPeersFollowTheBundle: the server remembers a client chain it
// verified, but not past a change of its trust bundle.
func TestVerifiedPeersFollowTheBundle(t *testing.T) {
	ca := newCA(t)
	ln, server := startServer(t, ca)
	client := proxyMaterial(t, ca, "/ns/shop/sa/productpage")
	connect := func() error {
		// A new configuration each time: no session to resume, so every
		// handshake is a full one.
		cfg, err := Client(client, &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA"}, []string{"h2"})
		if err != nil {
			return err
		}
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		return err
	}
	for range 2 { // verified, then remembered
		if err := connect(); err != nil {
			t.Fatal(err)
		}
	}
	// The server now trusts another root only: the remembered chain no
	// longer counts.
	server.set(&config.Secret{Name: "ROOTCA", Roots: newCA(t).Roots()})
	if err := connect(); err == nil {
		t.Fatal("the server accepted a client chain its new trust bundle does not vouch for")
	}
}

// TestVerifiedPeersCache: a chain that verified is not verified again
// until the bundle changes or the certificate expires.
func TestVerifiedPeersCache(t *testing.T) {
	ca := newCA(t)
	own := proxyMaterial(t, ca, "/ns/shop/sa/reviews")
	peer := proxyMaterial(t, ca, "/ns/shop/sa/productpage").Secret("default").SVID
	raw := [][]byte{}
	for _, c := range peer.Certificates {
		raw = append(raw, c.Raw)
	}
	now := time.Now()
	calls := 0
	cfg := &tls.Config{VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { calls++; return nil }}
	v := &verifiedPeers{bundles: bundleSource{m: own, validation: "ROOTCA", own: svidSource{m: own, name: "default"}}, now: func() time.Time { return now }}
	v.wrap(cfg)
	verify := func() {
		if err := cfg.VerifyPeerCertificate(raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	verify()
	verify()
	if calls != 1 {
		t.Fatalf("verified %d times, want once then remembered", calls)
	}
	own.set(&config.Secret{Name: "ROOTCA", Roots: ca.Roots()}) // a new bundle, even with the same roots
	verify()
	if calls != 2 {
		t.Fatalf("after a bundle change: %d verifications, want 2", calls)
	}
	now = peer.Certificates[0].NotAfter.Add(time.Second)
	verify()
	if calls != 3 {
		t.Fatalf("after the certificate expired: %d verifications, want 3", calls)
	}
}

// TestTrustDomainsOfAPort: a port that lists trust domains accepts clients
// of those only, even with a bundle that verifies others (a federated
// peer's); a port that lists none accepts every trust domain the proxy has
// a bundle for. A session resumed from a port that accepted a peer's client
// does not get it into a port that does not.
func TestTrustDomainsOfAPort(t *testing.T) {
	westTD := spiffeid.RequireTrustDomainFromString("west.example")
	eastCA, westCA := newCA(t), newCAIn(t, westTD)
	// The east server holds west's bundle as a federated one; the west
	// client holds east's.
	server := proxyMaterial(t, eastCA, "/ns/shop/sa/reviews")
	server.set(&config.Secret{Name: "spiffe://west.example", Roots: westCA.Roots()})
	eastClient := proxyMaterial(t, eastCA, "/ns/shop/sa/productpage")
	westClient := proxyMaterial(t, westCA, "/ns/shop/sa/productpage")
	westClient.set(&config.Secret{Name: "spiffe://east.example", Roots: eastCA.Roots()})

	serverCfg := func(tds ...string) *tls.Config {
		c, err := Server(server, &config.DownstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true, TrustDomains: tds})
		if err != nil {
			t.Fatal(err)
		}
		// One set of ticket keys for both ports: the worst case, where a
		// ticket from one port is one the other can decrypt.
		c.SetSessionTicketKeys([][32]byte{{1}})
		return c
	}
	exported, _ := serve(t, serverCfg())
	ownOnly, ownOnlyHandshakes := serve(t, serverCfg("east.example"))
	clientCfg := func(m *material) *tls.Config {
		c, err := Client(m, &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/shop/sa/reviews"}, SNI: "reviews.shop"}, []string{"h2"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The mesh's own clients get into both ports.
	for _, ln := range []net.Listener{exported, ownOnly} {
		if _, err := dialTLS(clientCfg(eastClient), ln.Addr().String()); err != nil {
			t.Fatalf("east client to %s: %v", ln.Addr(), err)
		}
	}
	if err := <-ownOnlyHandshakes; err != nil {
		t.Fatalf("the port that accepts east.example only refused east's client: %v", err)
	}

	// A peer's client gets into the exported port, resuming its session
	// there the second time...
	west := clientCfg(westClient)
	if resumed, err := dialTLS(west, exported.Addr().String()); err != nil || resumed {
		t.Fatalf("west client to the exported port: resumed=%v, %v; want a full handshake", resumed, err)
	}
	if resumed, err := dialTLS(west, exported.Addr().String()); err != nil || !resumed {
		t.Fatalf("west client to the exported port again: resumed=%v, %v; want the session resumed", resumed, err)
	}
	// ...but not into the other, with its session (same server name, same
	// ticket keys) or in a full handshake.
	for _, cfg := range []*tls.Config{west, clientCfg(westClient)} {
		if _, err := dialTLS(cfg, ownOnly.Addr().String()); err == nil {
			t.Fatal("a client of west.example got into a port that accepts east.example only")
		}
		err := <-ownOnlyHandshakes
		if err == nil || !strings.Contains(err.Error(), "client spiffe://west.example/ns/shop/sa/productpage is from trust domain west.example; this port accepts only east.example") {
			t.Fatalf("the server refused the west client with %v; want an error naming its trust domain", err)
		}
	}
}

// TestPostQuantumKeyExchange: sidecars agree on P-256 with ML-KEM-768, a
// post-quantum hybrid, and still talk to a peer that offers only X25519
// with ML-KEM-768 (Go's default first choice).
func TestPostQuantumKeyExchange(t *testing.T) {
	ca := newCA(t)
	ln, _ := startServer(t, ca)
	clientCfg, err := Client(proxyMaterial(t, ca, "/ns/shop/sa/productpage"), &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA"}, []string{"h2"})
	if err != nil {
		t.Fatal(err)
	}
	clientCfg.ClientSessionCache = nil
	if !slices.Equal(clientCfg.CurvePreferences, KeyExchanges) {
		t.Fatalf("a mesh client offers %v, want %v", clientCfg.CurvePreferences, KeyExchanges)
	}
	for _, tc := range []struct {
		offer []tls.CurveID // nil: what Client configured
		want  tls.CurveID
	}{
		{want: tls.SecP256r1MLKEM768},
		{offer: []tls.CurveID{tls.X25519MLKEM768}, want: tls.X25519MLKEM768},
	} {
		cfg := clientCfg.Clone()
		if tc.offer != nil {
			cfg.CurvePreferences = tc.offer
		}
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(*tls.Conn).ConnectionState().CurveID; got != tc.want {
			t.Errorf("offering %v: agreed on %v, want %v", cfg.CurvePreferences, got, tc.want)
		}
		_ = c.Close()
	}
}
