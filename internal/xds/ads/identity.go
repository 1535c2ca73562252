package ads

import (
	"context"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// A proxy that connects over mutual TLS is known by the SPIFFE ID of its
// workload certificate (the gRPC server's TLS verified the chain). Its
// node metadata must claim that identity's namespace and service account,
// and a node ID stays with the identity that connected it first: a
// workload can neither read another's configuration nor take over its
// place at the control plane.

// peerID is the SPIFFE ID of a stream's client certificate.
func peerID(ctx context.Context) (spiffeid.ID, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return spiffeid.ID{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return spiffeid.ID{}, false
	}
	id, err := x509svid.IDFromCert(info.State.PeerCertificates[0])
	return id, err == nil
}

// streamOpen records who opened a stream, into peers (the SotW or the
// delta streams); without a client identity the stream is refused when
// the server requires one.
func (s *Server) streamOpen(peers map[int64]spiffeid.ID) func(context.Context, int64, string) error {
	return func(ctx context.Context, stream int64, _ string) error {
		id, ok := peerID(ctx)
		if !ok {
			if s.cfg.RequireIdentity {
				s.countStream(false, false)
				return status.Error(codes.Unauthenticated, "the control plane takes xDS over mutual TLS only: connect with the proxy's workload certificate (plexus-proxy --ca-address, --ca-root-file and --credential-file)")
			}
			return nil
		}
		s.mu.Lock()
		peers[stream] = id
		s.mu.Unlock()
		return nil
	}
}

// countStream counts a stream whose node was served or refused.
func (s *Server) countStream(mtls, served bool) {
	result := "refused"
	if served {
		result = "served"
	}
	s.streamCount.WithLabelValues(strconv.FormatBool(mtls), result).Inc()
}

// authorize checks a proxy's claims against the identity its stream
// connected with; the caller holds s.mu.
func (s *Server) authorize(peers map[int64]spiffeid.ID, stream int64, node *corev3.Node) error {
	id, ok := peers[stream]
	if !ok {
		return nil // plaintext, allowed by configuration
	}
	meta, err := nodemeta.FromStruct(node.GetMetadata())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "node %s: unreadable node metadata: %v", node.GetId(), err)
	}
	want, err := identity.WorkloadID(id.TrustDomain(), meta.Namespace, meta.ServiceAccount)
	if err != nil || want != id {
		return status.Errorf(codes.PermissionDenied, "node %s claims namespace %q and service account %q, but its certificate is %s: a proxy gets configuration only for its own workload",
			node.GetId(), meta.Namespace, meta.ServiceAccount, id)
	}
	if p := s.proxies[node.GetId()]; p != nil && p.identity != id {
		return status.Errorf(codes.PermissionDenied, "node %s is connected as %s; %s cannot connect under the same node ID", node.GetId(), p.identity, id)
	}
	return nil
}
