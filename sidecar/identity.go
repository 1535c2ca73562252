package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
)

// IdentityOptions say where the proxy gets its workload certificate.
type IdentityOptions struct {
	// CAAddress is the certificate service, host:port.
	CAAddress string
	// CARootFile holds the PEM roots that verify the certificate service.
	CARootFile string
	// CredentialFile holds the proof of identity: a projected
	// ServiceAccount token, or a join token in local mode. It is read for
	// every request, so a rotated token is picked up.
	CredentialFile string
	// WorkloadAPI is a SPIFFE Workload API address (a SPIRE agent) to
	// take certificates from instead of the certificate service.
	WorkloadAPI string
	// BundleRefresh is how often the trust bundles are asked for between
	// certificates. Zero: DefaultBundleRefresh.
	BundleRefresh time.Duration
}

// DefaultBundleRefresh is how often a proxy asks the CA for the trust
// bundles: a new federated peer is trusted within it.
const DefaultBundleRefresh = 30 * time.Second

// caIdentity is a running certificate client.
type caIdentity struct {
	// stop waits for the client to end, after its context.
	stop func()
	// roots verify the control plane.
	roots *caRoots
	// first is closed when the first certificate is installed.
	first <-chan struct{}
}

// startIdentity obtains the proxy's certificate and keeps it renewed
// until ctx ends. The proxy is not ready before it has one.
func startIdentity(ctx context.Context, o IdentityOptions, p *Proxy, m *metrics.Metrics, log *slog.Logger) (*caIdentity, error) {
	if o.CARootFile == "" || o.CredentialFile == "" {
		return nil, fmt.Errorf("--ca-address needs --ca-root-file (the roots that verify the CA) and --credential-file (the token that proves who this proxy is)")
	}
	if o.BundleRefresh == 0 {
		o.BundleRefresh = DefaultBundleRefresh
	}
	roots := &caRoots{file: o.CARootFile}
	if _, err := roots.pool(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(o.CAAddress, grpc.WithTransportCredentials(credentials.NewTLS(roots.tlsConfig("the certificate service", dialHost(o.CAAddress)))))
	if err != nil {
		return nil, fmt.Errorf("--ca-address %s: %w", o.CAAddress, err)
	}
	p.ExpectIdentity()
	client := identity.NewClient(identity.ClientConfig{
		Conn: conn, Observer: m, Log: log,
		Credential: func() (string, error) {
			b, err := os.ReadFile(o.CredentialFile)
			return strings.TrimSpace(string(b)), err
		},
	})
	// The certificate and the bundles are installed together: a new
	// certificate comes with the bundles of its time, and bundles the CA
	// publishes later (a new peer, a rotation) replace them in between.
	var mu sync.Mutex
	var current *identity.SVID
	first := make(chan struct{})
	install := func(s *identity.SVID) {
		if current == nil {
			defer close(first)
		}
		p.SetIdentity(secrets(s)...)
		roots.setBundle(s.Bundle)
		m.SetTrustDomain(s.ID.TrustDomain().Name())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Run(ctx, func(s *identity.SVID) {
			mu.Lock()
			defer mu.Unlock()
			install(s)
			current = s
		})
	}()
	bundlesDone := make(chan struct{})
	go func() {
		defer close(bundlesDone)
		own := func() (spiffeid.TrustDomain, bool) {
			mu.Lock()
			defer mu.Unlock()
			if current == nil {
				return spiffeid.TrustDomain{}, false
			}
			return current.ID.TrustDomain(), true
		}
		client.WatchBundles(ctx, o.BundleRefresh, own, func(b *identity.Bundles) {
			mu.Lock()
			defer mu.Unlock()
			if current == nil {
				return
			}
			next := *current
			next.Bundle, next.Federated = b.Own, b.Federated
			current = &next
			install(current)
			m.SetPeerClusters(b.Clusters)
			log.Info("trust bundles updated", "federated", len(b.Federated))
		})
	}()
	return &caIdentity{stop: func() { <-done; <-bundlesDone; _ = conn.Close() }, roots: roots, first: first}, nil
}

// caRoots verifies the certificate service: with the roots in the root
// file (read again for every connection, so an updated ConfigMap counts)
// and the trust bundle the CA last sent. During a root rotation the CA's
// own certificate moves to the new root, which the bundle already holds.
type caRoots struct {
	file   string
	bundle atomic.Pointer[[]*x509.Certificate]
}

func (r *caRoots) setBundle(b []*x509.Certificate) { r.bundle.Store(&b) }

func (r *caRoots) pool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(r.file)
	if err != nil {
		return nil, fmt.Errorf("--ca-root-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-root-file %s holds no PEM certificate", r.file)
	}
	if b := r.bundle.Load(); b != nil {
		for _, c := range *b {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// tlsConfig verifies the server's chain and its certificate for host
// itself, against the roots of the moment. The host is checked here
// because TLS leaves IP addresses out of the server name.
func (r *caRoots) tlsConfig(what, host string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified in VerifyConnection, with current roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			pool, err := r.pool()
			if err != nil {
				return err
			}
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%s presented no certificate", what)
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: pool, Intermediates: inter}); err != nil {
				return fmt.Errorf("%s at %s: %w", what, host, err)
			}
			return nil
		},
	}
}

func secrets(s *identity.SVID) []*config.Secret {
	out := []*config.Secret{
		{Name: nodemeta.CertificateSecret, SVID: &x509svid.SVID{ID: s.ID, Certificates: s.Chain, PrivateKey: s.Key}},
		{Name: nodemeta.RootSecret, Roots: s.Bundle},
	}
	// Federated trust domains' bundles go where TLS looks them up: under
	// the trust domain's SPIFFE ID, as with the Workload API.
	for _, td := range slices.Sorted(maps.Keys(s.Federated)) {
		out = append(out, &config.Secret{Name: "spiffe://" + td, Roots: s.Federated[td]})
	}
	return out
}
