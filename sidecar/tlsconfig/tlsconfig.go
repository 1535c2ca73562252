// Package tlsconfig builds the TLS configurations of a proxy's mTLS
// connections from its TLS material, with go-spiffe's verification: a peer
// is accepted when its certificate chains to the trust bundle of the peer's
// own trust domain and its SPIFFE ID is one the configuration allows.
//
// Material is looked up at every handshake, so new certificates and
// bundles take effect for new connections at once while open connections
// carry on undisturbed.
//
// Trust bundles are found by trust domain: a Secret named
// "spiffe://<trust domain>" holds that domain's roots (federated peers);
// the validation Secret a configuration names holds the roots of the
// proxy's own trust domain.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Material returns the current TLS secret with a name, or nil.
type Material interface {
	Secret(name string) *config.Secret
}

// SVIDSource serves the certificate in the secret named name, as go-spiffe
// sources do: for connections beside the mesh's own, such as xDS.
func SVIDSource(m Material, name string) x509svid.Source { return svidSource{m: m, name: name} }

// svidSource serves the certificate of one secret.
type svidSource struct {
	m    Material
	name string
}

func (s svidSource) GetX509SVID() (*x509svid.SVID, error) {
	sec := s.m.Secret(s.name)
	if sec == nil || sec.SVID == nil {
		return nil, fmt.Errorf("tlsconfig: no certificate %q yet: the proxy's identity has not arrived", s.name)
	}
	return sec.SVID, nil
}

// bundleSource serves trust bundles by trust domain.
type bundleSource struct {
	m          Material
	validation string
	own        svidSource
}

func (b bundleSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if sec := b.m.Secret(td.IDString()); sec != nil && len(sec.Roots) > 0 {
		return x509bundle.FromX509Authorities(td, sec.Roots), nil
	}
	svid, err := b.own.GetX509SVID()
	if err != nil {
		return nil, err
	}
	if svid.ID.TrustDomain() != td {
		return nil, fmt.Errorf("tlsconfig: no trust bundle for trust domain %q: it is neither this proxy's (%q) nor a federated one", td, svid.ID.TrustDomain())
	}
	sec := b.m.Secret(b.validation)
	if sec == nil || len(sec.Roots) == 0 {
		return nil, fmt.Errorf("tlsconfig: no trust bundle %q yet", b.validation)
	}
	return x509bundle.FromX509Authorities(td, sec.Roots), nil
}

// Server returns the configuration that terminates TLS on an inbound
// listener. With RequireClientCert (STRICT mTLS) a client must present a
// certificate the bundles verify, with a SPIFFE ID in one of TrustDomains
// when they are listed; the ID is then available to authorization.
func Server(m Material, t *config.DownstreamTLS) (*tls.Config, error) {
	if t.CertificateSecret == "" {
		return nil, errors.New("tlsconfig: a server certificate secret is required")
	}
	svid := svidSource{m: m, name: t.CertificateSecret}
	var c *tls.Config
	if t.RequireClientCert {
		authorize, err := authorizeTrustDomains(t.TrustDomains)
		if err != nil {
			return nil, err
		}
		bundles := bundleSource{m: m, validation: t.ValidationSecret, own: svid}
		c = tlsconfig.MTLSServerConfig(svid, bundles, authorize)
		verified := &verifiedPeers{bundles: bundles, now: time.Now}
		verified.wrap(c)
		reverifyResumed(c, bundles, authorize, verified)
	} else {
		c = tlsconfig.TLSServerConfig(svid)
	}
	c.NextProtos = t.ALPN
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c, nil
}

// KeyExchanges are what a sidecar offers another for the TLS key
// exchange: the post-quantum hybrid of P-256 and ML-KEM-768, else a
// classical one. Go's default would be X25519 with ML-KEM-768: the P-256
// hybrid costs the server about 8% less CPU per full handshake (Go's
// P-256 is faster than its X25519 on amd64; BenchmarkFullMTLSHandshake),
// and both its parts are NIST approved. Go sends a key share for the
// first exchange it supports in its own order, so X25519 with ML-KEM-768
// is left out rather than ranked lower. Servers accept every exchange Go
// does and prefer post-quantum ones, so older clients keep theirs; a
// server built with Go before 1.26 (Plexus proxies are built with 1.26)
// lacks this hybrid and would agree on a classical exchange.
var KeyExchanges = []tls.CurveID{tls.SecP256r1MLKEM768, tls.CurveP256, tls.X25519}

// authorizeTrustDomains admits clients that are members of one of names;
// none admits any client the bundles verify. A trust bundle only says who a
// client is: which trust domains a port serves is the port's own decision
// (the mesh's own only, unless it serves a Service exported to peers).
func authorizeTrustDomains(names []string) (tlsconfig.Authorizer, error) {
	if len(names) == 0 {
		return tlsconfig.AuthorizeAny(), nil
	}
	tds := make([]spiffeid.TrustDomain, 0, len(names))
	for _, n := range names {
		td, err := spiffeid.TrustDomainFromString(n)
		if err != nil {
			return nil, fmt.Errorf("tlsconfig: %q is not a trust domain: %w", n, err)
		}
		tds = append(tds, td)
	}
	accepted := strings.Join(names, ", ")
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error {
		for _, td := range tds {
			if id.MemberOf(td) {
				return nil
			}
		}
		return fmt.Errorf("tlsconfig: client %s is from trust domain %s; this port accepts only %s", id, id.TrustDomain(), accepted)
	}, nil
}

// Client returns the configuration that originates mTLS to a cluster,
// verifying the server's SPIFFE ID against the allowed ones (any ID the
// bundles vouch for when none are listed).
func Client(m Material, t *config.UpstreamTLS, alpn []string) (*tls.Config, error) {
	authorizer := tlsconfig.AuthorizeAny()
	if len(t.SPIFFEIDs) > 0 {
		ids := make([]spiffeid.ID, 0, len(t.SPIFFEIDs))
		for _, s := range t.SPIFFEIDs {
			id, err := spiffeid.FromString(s)
			if err != nil {
				return nil, fmt.Errorf("tlsconfig: SAN matcher %q is not a SPIFFE ID: %w", s, err)
			}
			ids = append(ids, id)
		}
		authorizer = tlsconfig.AuthorizeOneOf(ids...)
	}
	svid := svidSource{m: m, name: t.CertificateSecret}
	bundles := bundleSource{m: m, validation: t.ValidationSecret, own: svid}
	var c *tls.Config
	if t.CertificateSecret != "" {
		c = tlsconfig.MTLSClientConfig(svid, bundles, authorizer)
	} else {
		c = tlsconfig.TLSClientConfig(bundles, authorizer)
	}
	// Resume sessions with the cluster's endpoints: a new connection then
	// skips the key exchange and signatures of a full handshake.
	c.ClientSessionCache = &svidBoundCache{svid: svid}
	verified := &verifiedPeers{bundles: bundles, now: time.Now}
	verified.wrap(c)
	reverifyResumed(c, bundles, authorizer, verified)
	c.ServerName = t.SNI
	if t.CertificateSecret != "" {
		c.CurvePreferences = KeyExchanges // mesh mTLS; other TLS keeps Go's defaults
	}
	c.NextProtos = t.ALPN
	if len(c.NextProtos) == 0 {
		c.NextProtos = alpn
	}
	return c, nil
}

// sessionCacheSize bounds the TLS sessions kept per cluster: one per
// endpoint is enough.
const sessionCacheSize = 1024

// svidBoundCache keeps TLS sessions only as long as the proxy's own
// certificate: a session resumes with the identity it was made with, so
// after the proxy's certificate changes (rotation, a new CA) its peers
// should see the new one at once.
type svidBoundCache struct {
	svid svidSource

	mu    sync.Mutex
	leaf  *x509.Certificate
	cache tls.ClientSessionCache
}

func (c *svidBoundCache) current() tls.ClientSessionCache {
	var leaf *x509.Certificate
	if s, err := c.svid.GetX509SVID(); err == nil && len(s.Certificates) > 0 {
		leaf = s.Certificates[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil || leaf != c.leaf {
		c.cache, c.leaf = tls.NewLRUClientSessionCache(sessionCacheSize), leaf
	}
	return c.cache
}

func (c *svidBoundCache) Get(key string) (*tls.ClientSessionState, bool) { return c.current().Get(key) }
func (c *svidBoundCache) Put(key string, cs *tls.ClientSessionState)     { c.current().Put(key, cs) }

// reverifyResumed checks resumed sessions as a full handshake would have.
// Go does not call VerifyPeerCertificate when a session resumes, so
// without this a resumed session would outlive a rotated trust bundle, an
// expired certificate or a changed set of allowed identities. A chain the
// cache holds (verified, still valid, against the bundle in effect) is
// not checked again; its identity is always authorized again.
func reverifyResumed(c *tls.Config, bundles x509bundle.Source, authorize tlsconfig.Authorizer, verified *verifiedPeers) {
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.DidResume {
			return nil // verified in full by VerifyPeerCertificate
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsconfig: resumed session: the peer has no certificate")
		}
		raw := make([][]byte, len(cs.PeerCertificates))
		for i, cert := range cs.PeerCertificates {
			raw[i] = cert.Raw
		}
		key := chainKey(raw)
		if verified.hit(key) {
			id, err := x509svid.IDFromCert(cs.PeerCertificates[0])
			if err != nil {
				return fmt.Errorf("tlsconfig: resumed session: %w", err)
			}
			return authorize(id, [][]*x509.Certificate{cs.PeerCertificates})
		}
		id, chains, err := x509svid.Verify(cs.PeerCertificates, bundles)
		if err != nil {
			return fmt.Errorf("tlsconfig: resumed session: %w", err)
		}
		if err := authorize(id, chains); err != nil {
			return err
		}
		verified.remember(key, raw)
		return nil
	}
}

// PeerID returns the SPIFFE ID a verified peer certificate carries.
func PeerID(state *tls.ConnectionState) (spiffeid.ID, bool) {
	if state == nil || len(state.PeerCertificates) == 0 {
		return spiffeid.ID{}, false
	}
	id, err := x509svid.IDFromCert(state.PeerCertificates[0])
	return id, err == nil
}
