package tlsconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
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
	root, key, err := identity.NewRoot(td, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.New(td, []*x509.Certificate{root}, key, []*x509.Certificate{root})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// proxyMaterial holds an SVID for path from ca, and ca's roots.
func proxyMaterial(t testing.TB, ca *identity.CA, path string) *material {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeid.RequireFromPath(td, path)
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
func startServer(t *testing.T, ca *identity.CA) net.Listener {
	t.Helper()
	serverCfg, err := Server(proxyMaterial(t, ca, "/ns/shop/sa/reviews"), &config.DownstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte{1})
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln
}

// TestSessionResumption: a second connection to the same endpoint resumes
// the session, and a resumed session is verified again, so a trust bundle
// that no longer vouches for the server ends it.
func TestSessionResumption(t *testing.T) {
	ca := newCA(t)
	ln := startServer(t, ca)

	client := proxyMaterial(t, ca, "/ns/shop/sa/productpage")
	clientCfg, err := Client(client, &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{"spiffe://east.example/ns/shop/sa/reviews"}}, []string{"h2"})
	if err != nil {
		t.Fatal(err)
	}
	connect := func() (resumed bool, err error) {
		d := tls.Dialer{Config: clientCfg}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return false, err
		}
		defer c.Close()
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return false, err
		}
		return c.(*tls.Conn).ConnectionState().DidResume, nil
	}
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
	ln := startServer(t, ca)
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
