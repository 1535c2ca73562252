package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/identity/capb"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Authenticator checks a proxy's credential and says which identity it
// proves.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (spiffeid.ID, error)
}

// ServerConfig configures the certificate service.
type ServerConfig struct {
	// CA returns the CA in effect; nil while there is none.
	CA func() *CA
	// Authenticator checks credentials.
	Authenticator Authenticator
	// TTL returns the workload certificate lifetime in effect.
	TTL func() time.Duration
	// Federated returns the bundles of federated trust domains, by trust
	// domain name, sent with every certificate; nil for none.
	Federated func() map[string][]*x509.Certificate
	// FederatedClusters returns the cluster name of each federated trust
	// domain; nil for none.
	FederatedClusters func() map[string]string
	// Now is the clock. Default: time.Now.
	Now        func() time.Time
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Server is the certificate service.
type Server struct {
	capb.UnimplementedCertificatesServer
	cfg    ServerConfig
	issued *prometheus.CounterVec
	expiry *prometheus.GaugeVec
}

// NewServer returns the certificate service; register it on a gRPC
// server that uses TLS, since requests carry credentials.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, issued: telemetry.CertificatesIssued.CounterVec(), expiry: telemetry.CARootExpiry.GaugeVec()}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.issued, s.expiry)
	}
	return s
}

// Sign implements capb.CertificatesServer.
func (s *Server) Sign(ctx context.Context, req *capb.SignRequest) (*capb.SignResponse, error) {
	ca := s.cfg.CA()
	if ca == nil {
		s.issued.WithLabelValues("error").Inc()
		return nil, status.Error(codes.Unavailable, "the CA is not ready yet; retry")
	}
	s.expiry.WithLabelValues().Set(float64(ca.NotAfter().Unix()))
	id, err := s.cfg.Authenticator.Authenticate(ctx, req.GetCredential())
	if err != nil {
		s.issued.WithLabelValues("unauthenticated").Inc()
		s.cfg.Log.Warn("certificate request with a bad credential", "peer", peerAddr(ctx), "error", err)
		return nil, status.Errorf(codes.Unauthenticated, "credential refused: %v", err)
	}
	chain, err := ca.Sign(req.GetCsr(), id, s.cfg.TTL(), s.cfg.Now())
	var csrErr *CSRError
	switch {
	case errors.As(err, &csrErr):
		s.issued.WithLabelValues("refused").Inc()
		s.cfg.Log.Warn("refused a certificate request", "identity", id.String(), "peer", peerAddr(ctx), "reason", csrErr.Error())
		return nil, status.Error(codes.PermissionDenied, csrErr.Error())
	case err != nil:
		s.issued.WithLabelValues("error").Inc()
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.issued.WithLabelValues("issued").Inc()
	s.cfg.Log.Debug("issued a certificate", "identity", id.String(), "notAfter", chain[0].NotAfter)
	return &capb.SignResponse{CertChain: raw(chain), TrustBundle: raw(ca.Roots()), SpiffeId: id.String(), FederatedBundles: s.federated(ca)}, nil
}

// Bundles implements capb.CertificatesServer.
func (s *Server) Bundles(context.Context, *capb.BundlesRequest) (*capb.BundlesResponse, error) {
	ca := s.cfg.CA()
	if ca == nil {
		return nil, status.Error(codes.Unavailable, "the CA is not ready yet; retry")
	}
	resp := &capb.BundlesResponse{TrustBundle: raw(ca.Roots()), FederatedBundles: s.federated(ca)}
	if s.cfg.FederatedClusters != nil {
		resp.FederatedClusters = s.cfg.FederatedClusters()
	}
	return resp, nil
}

// federated are the peers' bundles to send, without the mesh's own.
func (s *Server) federated(ca *CA) map[string]*capb.Bundle {
	if s.cfg.Federated == nil {
		return nil
	}
	var out map[string]*capb.Bundle
	for td, roots := range s.cfg.Federated() {
		if td == ca.TrustDomain().Name() || len(roots) == 0 {
			continue
		}
		if out == nil {
			out = map[string]*capb.Bundle{}
		}
		out[td] = &capb.Bundle{Roots: raw(roots)}
	}
	return out
}

func raw(certs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Raw
	}
	return out
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}
