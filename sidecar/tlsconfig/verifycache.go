package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// maxVerified bounds the verified peer certificates one configuration
// remembers; a mesh's callers of one workload number far fewer.
const maxVerified = 4096

// verifiedPeers remembers peer certificate chains that passed
// verification, so that the next full handshake with the same peer skips
// building and checking the chain: on a busy server that is a third of a
// handshake's work. An entry holds only while the certificate is valid and
// the trust bundle it was checked against is the one in effect; the
// handshake itself still proves the peer holds the key (CertificateVerify).
type verifiedPeers struct {
	bundles bundleSource
	now     func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedPeer
}

type verifiedPeer struct {
	notAfter time.Time
	td       spiffeid.TrustDomain
	bundle   *config.Secret
}

// wrap puts the cache in front of c's peer verification.
func (v *verifiedPeers) wrap(c *tls.Config) {
	verify := c.VerifyPeerCertificate
	c.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		key := chainKey(raw)
		if v.hit(key) {
			return nil
		}
		if err := verify(raw, chains); err != nil {
			return err
		}
		v.remember(key, raw)
		return nil
	}
}

func chainKey(raw [][]byte) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range raw {
		h.Write(c)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// bundleFor is the Secret holding td's roots now: a federated domain's own,
// else the validation Secret.
func (v *verifiedPeers) bundleFor(td spiffeid.TrustDomain) *config.Secret {
	if sec := v.bundles.m.Secret(td.IDString()); sec != nil && len(sec.Roots) > 0 {
		return sec
	}
	return v.bundles.m.Secret(v.bundles.validation)
}

func (v *verifiedPeers) hit(key [sha256.Size]byte) bool {
	v.mu.Lock()
	e, ok := v.entries[key]
	v.mu.Unlock()
	return ok && v.now().Before(e.notAfter) && v.bundleFor(e.td) == e.bundle
}

func (v *verifiedPeers) remember(key [sha256.Size]byte, raw [][]byte) {
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return
		}
		certs = append(certs, c)
	}
	id, err := x509svid.IDFromCert(certs[0])
	if err != nil {
		return
	}
	notAfter := certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	e := verifiedPeer{notAfter: notAfter, td: id.TrustDomain(), bundle: v.bundleFor(id.TrustDomain())}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil || len(v.entries) >= maxVerified {
		v.entries = map[[sha256.Size]byte]verifiedPeer{}
	}
	v.entries[key] = e
}
