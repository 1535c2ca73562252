package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/identity/capb"
	"github.com/plexus-mesh/plexus/internal/model"
)

// caServer serves the certificate service over TLS, with a certificate
// from the mesh CA for hosts.
type caServer struct {
	authority *identity.Authority
	authn     identity.Authenticator
	addr      string
	hosts     []string
	log       *slog.Logger
	reg       prometheus.Registerer
	// federated are the peers' bundles sent with certificates, and
	// clusters their cluster names; nil for none.
	federated func() map[string][]*x509.Certificate
	clusters  func() map[string]string
}

// NeedLeaderElection is false: every replica issues certificates.
func (c *caServer) NeedLeaderElection() bool { return false }

func (c *caServer) Start(ctx context.Context) error {
	ln, err := listenGRPC(ctx, c.addr)
	if err != nil {
		return fmt.Errorf("CA address %s: %w (choose another with --ca-address)", c.addr, err)
	}
	serving := &identity.ServingCertificates{CA: c.authority.CA, Hosts: c.hosts}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: serving.GetCertificate, MinVersion: tls.VersionTLS12})))
	capb.RegisterCertificatesServer(g, identity.NewServer(identity.ServerConfig{
		CA: c.authority.CA, TTL: c.authority.TTL, Authenticator: c.authn, Log: c.log, Registerer: c.reg, Federated: c.federated, FederatedClusters: c.clusters,
	}))
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	c.log.Info("serving certificates", "address", ln.Addr().String())
	if err := g.Serve(ln); err != nil {
		return fmt.Errorf("serving certificates: %w", err)
	}
	return nil
}

// rotationCheckInterval is how often the CA checks whether a root
// rotation should move to its next phase (and replicas pick it up).
const rotationCheckInterval = 10 * time.Second

// caSyncer runs the authority's periodic sync on every replica.
type caSyncer struct {
	authority *identity.Authority
	log       *slog.Logger
}

func (c caSyncer) NeedLeaderElection() bool { return false }

func (c caSyncer) Start(ctx context.Context) error {
	c.authority.Run(ctx, rotationCheckInterval, func(err error) { c.log.Error("certificate authority", "error", err) })
	return nil
}

// followMesh keeps the authority on the mesh's trust domain; it is a
// model publisher, so every new model is checked.
type followMesh struct {
	authority *identity.Authority
	log       *slog.Logger
	// upstream reads a user-supplied CA from its Secret; nil where there
	// are no Secrets (local mode).
	upstream func(model.NamespacedName) identity.UpstreamSource
}

func (f followMesh) Update(m *model.Mesh) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var upstream identity.UpstreamSource
	if ref := m.Settings.RootCASecret; ref != nil {
		if f.upstream == nil {
			f.log.Error("identity.builtin.rootCASecretRef needs Kubernetes Secrets; local mode keeps its own root", "secret", ref.String())
		} else {
			upstream = f.upstream(*ref)
		}
	}
	if err := f.authority.FollowWith(ctx, m.Settings.TrustDomain, m.Settings.WorkloadCertificateTTL(), m.Settings.RootRotation, upstream); err != nil {
		f.log.Error("certificate authority", "error", err)
	}
}

// publishers hands each model to several publishers.
type publishers []interface{ Update(*model.Mesh) }

func (ps publishers) Update(m *model.Mesh) {
	for _, p := range ps {
		p.Update(m)
	}
}

// localJoinTokens checks join tokens against the key kept with the local
// CA, for the trust domain in effect.
type localJoinTokens struct {
	dir       string
	authority *identity.Authority
}

func (l localJoinTokens) Authenticate(ctx context.Context, token string) (spiffeid.ID, error) {
	ca := l.authority.CA()
	if ca == nil {
		return spiffeid.ID{}, errors.New("the mesh has no trust domain yet")
	}
	key, err := identity.JoinKey(l.dir)
	if err != nil {
		return spiffeid.ID{}, err
	}
	return (&identity.JoinTokens{Key: key, TrustDomain: ca.TrustDomain()}).Authenticate(ctx, token)
}
