package federation

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Identity is what an operator proves itself with and trusts: its own
// SVID, and the bundles of its own and its peers' trust domains.
type Identity interface {
	x509svid.Source
	x509bundle.Source
}

// OperatorAccount is the service account operators run as.
const OperatorAccount = "plexus-operator"

// DefaultOperatorNamespace is where a peer's operator runs when its
// MeshPeer does not say otherwise.
const DefaultOperatorNamespace = "plexus-system"

// OperatorID is the identity of the operator running in namespace of td:
// spiffe://<td>/ns/<namespace>/sa/plexus-operator.
func OperatorID(td spiffeid.TrustDomain, namespace string) (spiffeid.ID, error) {
	return spiffeid.FromSegments(td, "ns", namespace, "sa", OperatorAccount)
}

// peerID is the SPIFFE ID the caller of a gRPC method presented.
func peerID(ctx context.Context) (spiffeid.ID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return spiffeid.ID{}, errors.New("no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("no client certificate")
	}
	return x509svid.IDFromCert(info.State.PeerCertificates[0])
}

// serverTLS is the federation API's TLS: the operator's SVID, and client
// certificates verified against the bundle of their own trust domain.
// Which peers may watch is decided per call.
func serverTLS(id Identity) *tls.Config {
	return tlsconfig.MTLSServerConfig(id, id, tlsconfig.AuthorizeAny())
}
