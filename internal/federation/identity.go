package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

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

// OperatorAccount is the service account operators run as; a peer's
// operator is spiffe://<its trust domain>/ns/<any namespace>/sa/plexus-operator.
const OperatorAccount = "plexus-operator"

// IsOperator reports whether id is an operator's identity in td.
func IsOperator(id spiffeid.ID, td spiffeid.TrustDomain) bool {
	if !id.MemberOf(td) {
		return false
	}
	parts := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	return len(parts) == 4 && parts[0] == "ns" && parts[2] == "sa" && parts[3] == OperatorAccount
}

// operatorOf authorizes the operator of td, and no one else.
func operatorOf(td spiffeid.TrustDomain) tlsconfig.Authorizer {
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error {
		if !IsOperator(id, td) {
			return fmt.Errorf("%s is not the operator of trust domain %s", id, td)
		}
		return nil
	}
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
