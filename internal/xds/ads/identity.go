package ads

import (
	"context"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// A proxy that connects over mutual TLS is known by the SPIFFE ID of its
// workload certificate (the gRPC server's TLS verified the chain). Its
// node metadata must claim that identity's namespace and service account,
// its node ID must end in ".<namespace>" and, when it names a pod the
// model knows, that pod must run as the same service account; only the
// gateway's identity may
// claim the gateway role, and a node ID stays with the identity that
// connected it first: a workload can neither read another's configuration
// nor take over its place at the control plane. What else the metadata
// says (address, labels, ports) is trusted within the identity's
// namespace, as Kubernetes trusts a namespace's pods to carry labels
// that select them into Services; a workload found at the claimed
// address is used only when it runs as the same service account.

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
	held := func(p *proxyState) string {
		if p.identity.IsZero() {
			return "over plaintext"
		}
		return "as " + p.identity.String()
	}
	if !ok {
		// Plaintext, allowed by configuration; it cannot take the place
		// of a proxy that proved its identity.
		if p := s.proxies[node.GetId()]; p != nil && !p.identity.IsZero() {
			return status.Errorf(codes.PermissionDenied, "node %s is connected %s; a plaintext stream cannot connect under the same node ID", node.GetId(), held(p))
		}
		return nil
	}
	meta, err := nodemeta.FromStruct(node.GetMetadata())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "node %s: unreadable node metadata: %v", node.GetId(), err)
	}
	if meta.Namespace == "" || meta.ServiceAccount == "" {
		return status.Errorf(codes.InvalidArgument, "node %s names no namespace or service account: a proxy that presents a certificate must name the namespace and service account it runs as (--namespace, --service-account)", node.GetId())
	}
	want, err := identity.WorkloadID(id.TrustDomain(), meta.Namespace, meta.ServiceAccount)
	if err != nil || want != id {
		return status.Errorf(codes.PermissionDenied, "node %s claims namespace %q and service account %q, but its certificate is %s: a proxy gets configuration only for its own workload",
			node.GetId(), meta.Namespace, meta.ServiceAccount, id)
	}
	if !strings.HasSuffix(node.GetId(), "."+meta.Namespace) {
		return status.Errorf(codes.InvalidArgument, "node ID %s does not end in .%s: name a proxy <name>.<namespace> (--node-id), so that no other namespace can take its name", node.GetId(), meta.Namespace)
	}
	// A node ID names a pod: one the model knows runs as its own service
	// account, and no other may take its name.
	pod := model.NamespacedName{Namespace: meta.Namespace, Name: strings.TrimSuffix(node.GetId(), "."+meta.Namespace)}
	if sa, known := s.accounts[pod]; known && sa != meta.ServiceAccount {
		return status.Errorf(codes.PermissionDenied, "node %s is the name of pod %s, which runs as service account %s, not %s", node.GetId(), pod, sa, meta.ServiceAccount)
	}
	if meta.Role == nodemeta.RoleGateway && s.cfg.Gateway != (model.NamespacedName{}) &&
		(meta.Namespace != s.cfg.Gateway.Namespace || meta.ServiceAccount != s.cfg.Gateway.Name) {
		return status.Errorf(codes.PermissionDenied, "node %s claims the gateway role, which only service account %s may", node.GetId(), s.cfg.Gateway)
	}
	if p := s.proxies[node.GetId()]; p != nil && p.identity != id {
		return status.Errorf(codes.PermissionDenied, "node %s is connected %s; %s cannot connect under the same node ID", node.GetId(), held(p), id)
	}
	return nil
}
