package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"

	"github.com/plexus-mesh/plexus/internal/identity/capb"
)

// SVID is a workload's certificate, key and trust bundle.
type SVID struct {
	ID     spiffeid.ID
	Chain  []*x509.Certificate
	Key    *ecdsa.PrivateKey
	Bundle []*x509.Certificate
	// Federated are the bundles of federated trust domains, by name.
	Federated map[string][]*x509.Certificate
}

// NotAfter is when the certificate expires.
func (s *SVID) NotAfter() time.Time { return s.Chain[0].NotAfter }

// renewAt is half of the certificate's life: time enough for many retries
// before it expires.
func (s *SVID) renewAt() time.Time {
	c := s.Chain[0]
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
}

// ClientObserver is told about every attempt to obtain a certificate.
type ClientObserver interface {
	CertificateFetched(err error, notAfter time.Time)
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Conn reaches the certificate service, over TLS.
	Conn grpc.ClientConnInterface
	// Credential returns the current proof of identity; it is read again
	// for every request, since projected tokens are rotated on disk.
	Credential func() (string, error)
	Observer   ClientObserver
	Log        *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MinBackoff and MaxBackoff bound the wait between failed attempts.
	// Defaults: 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// Client obtains a workload's certificate and renews it at half life.
type Client struct {
	cfg ClientConfig
	ca  capb.CertificatesClient
}

// NewClient returns a Client; Run runs it.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return &Client{cfg: cfg, ca: capb.NewCertificatesClient(cfg.Conn)}
}

// Fetch makes a new key and asks the CA to certify it.
func (c *Client) Fetch(ctx context.Context) (*SVID, error) {
	cred, err := c.cfg.Credential()
	if err != nil {
		return nil, fmt.Errorf("reading the credential: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, err
	}
	resp, err := c.ca.Sign(ctx, &capb.SignRequest{Csr: csr, Credential: cred})
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	return parseResponse(resp, key)
}

func parseResponse(resp *capb.SignResponse, key *ecdsa.PrivateKey) (*SVID, error) {
	chain, err := parseDER(resp.GetCertChain())
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate chain: %w", err)
	}
	bundle, err := parseDER(resp.GetTrustBundle())
	if err != nil {
		return nil, fmt.Errorf("the CA's trust bundle: %w", err)
	}
	if len(chain) == 0 || len(bundle) == 0 {
		return nil, errors.New("the CA answered without a certificate or a trust bundle")
	}
	if !key.PublicKey.Equal(chain[0].PublicKey) {
		return nil, errors.New("the CA certified another key")
	}
	id, err := spiffeid.FromString(resp.GetSpiffeId())
	if err != nil {
		return nil, fmt.Errorf("the CA answered with SPIFFE ID %q: %w", resp.GetSpiffeId(), err)
	}
	federated, err := parseFederated(resp.GetFederatedBundles(), id.TrustDomain())
	if err != nil {
		return nil, err
	}
	return &SVID{ID: id, Chain: chain, Key: key, Bundle: bundle, Federated: federated}, nil
}

func parseDER(ders [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// parseFederated reads the peers' bundles the CA sent, refusing one for
// the mesh's own trust domain.
func parseFederated(in map[string]*capb.Bundle, own spiffeid.TrustDomain) (map[string][]*x509.Certificate, error) {
	var out map[string][]*x509.Certificate
	for td, b := range in {
		if _, err := spiffeid.TrustDomainFromString(td); err != nil || td == own.Name() {
			return nil, fmt.Errorf("the CA sent a federated bundle for %q, which is not a peer trust domain", td)
		}
		roots, err := parseDER(b.GetRoots())
		if err != nil {
			return nil, fmt.Errorf("the federated bundle of %s: %w", td, err)
		}
		if out == nil {
			out = map[string][]*x509.Certificate{}
		}
		out[td] = roots
	}
	return out, nil
}

// Bundles are the trust bundles in effect: the mesh's own roots and the
// federated peers'.
type Bundles struct {
	Own       []*x509.Certificate
	Federated map[string][]*x509.Certificate
	// Clusters names the cluster of each federated trust domain.
	Clusters map[string]string
}

// Equal reports whether b and o hold the same roots.
func (b *Bundles) Equal(o *Bundles) bool {
	same := func(x, y []*x509.Certificate) bool {
		return slices.EqualFunc(x, y, func(a, c *x509.Certificate) bool { return a.Equal(c) })
	}
	if o == nil || !same(b.Own, o.Own) || len(b.Federated) != len(o.Federated) || !maps.Equal(b.Clusters, o.Clusters) {
		return false
	}
	for td, roots := range b.Federated {
		if !same(roots, o.Federated[td]) {
			return false
		}
	}
	return true
}

// FetchBundles asks the CA for the bundles in effect; own is the mesh's
// trust domain.
func (c *Client) FetchBundles(ctx context.Context, own spiffeid.TrustDomain) (*Bundles, error) {
	resp, err := c.ca.Bundles(ctx, &capb.BundlesRequest{})
	if err != nil {
		return nil, fmt.Errorf("trust bundles: %w", err)
	}
	roots, err := parseDER(resp.GetTrustBundle())
	if err != nil {
		return nil, fmt.Errorf("the CA's trust bundle: %w", err)
	}
	if len(roots) == 0 {
		return nil, errors.New("the CA sent an empty trust bundle")
	}
	federated, err := parseFederated(resp.GetFederatedBundles(), own)
	if err != nil {
		return nil, err
	}
	return &Bundles{Own: roots, Federated: federated, Clusters: resp.GetFederatedClusters()}, nil
}

// WatchBundles asks the CA for the bundles every interval until ctx ends,
// and calls use when they differ from the last ones: a new peer, or a root
// rotation, reaches the workload without a new certificate. own returns
// the mesh's trust domain, false while the workload has no certificate.
func (c *Client) WatchBundles(ctx context.Context, interval time.Duration, own func() (spiffeid.TrustDomain, bool), use func(*Bundles)) {
	var last *Bundles
	var wait time.Duration // the first look is at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		td, ok := own()
		if !ok {
			wait = min(time.Second, interval) // no certificate yet: look again soon
			continue
		}
		wait = interval
		// A CA that stops answering must not stall the refreshes behind it.
		callCtx, cancel := context.WithTimeout(ctx, min(interval, 30*time.Second))
		b, err := c.FetchBundles(callCtx, td)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.cfg.Log.Debug("could not refresh the trust bundles; the current ones stay", "error", err)
			}
			continue
		}
		if !b.Equal(last) {
			last = b
			use(b)
		}
	}
}

// Run obtains a certificate, hands it to use, and renews it at half life
// until ctx ends. Failures are retried with backoff; the certificate in
// use stays until it is replaced.
func (c *Client) Run(ctx context.Context, use func(*SVID)) {
	backoff := c.cfg.MinBackoff
	var current *SVID
	for {
		svid, err := c.Fetch(ctx)
		if c.cfg.Observer != nil {
			var notAfter time.Time
			if svid != nil {
				notAfter = svid.NotAfter()
			}
			c.cfg.Observer.CertificateFetched(err, notAfter)
		}
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			attrs := []any{"error", err, "retry in", backoff}
			if current != nil {
				attrs = append(attrs, "current expires", current.NotAfter())
			}
			c.cfg.Log.Warn("could not obtain a workload certificate", attrs...)
			wait = backoff
			backoff = min(backoff*2, c.cfg.MaxBackoff)
		} else {
			current, backoff = svid, c.cfg.MinBackoff
			use(svid)
			c.cfg.Log.Info("workload certificate", "id", svid.ID.String(), "expires", svid.NotAfter())
			wait = svid.renewAt().Sub(c.cfg.Now())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
