package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
}

// startIdentity obtains the proxy's certificate and keeps it renewed
// until ctx ends. The proxy is not ready before it has one.
func startIdentity(ctx context.Context, o IdentityOptions, p *Proxy, m *metrics.Metrics, log *slog.Logger) (func(), error) {
	if o.CARootFile == "" || o.CredentialFile == "" {
		return nil, fmt.Errorf("--ca-address needs --ca-root-file (the roots that verify the CA) and --credential-file (the token that proves who this proxy is)")
	}
	rootsPEM, err := os.ReadFile(o.CARootFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-root-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootsPEM) {
		return nil, fmt.Errorf("--ca-root-file %s holds no PEM certificate", o.CARootFile)
	}
	conn, err := grpc.NewClient(o.CAAddress, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Run(ctx, func(s *identity.SVID) { p.SetIdentity(secrets(s)...) })
	}()
	return func() { <-done; _ = conn.Close() }, nil
}

func secrets(s *identity.SVID) []*config.Secret {
	return []*config.Secret{
		{Name: nodemeta.CertificateSecret, SVID: &x509svid.SVID{ID: s.ID, Certificates: s.Chain, PrivateKey: s.Key}},
		{Name: nodemeta.RootSecret, Roots: s.Bundle},
	}
}
