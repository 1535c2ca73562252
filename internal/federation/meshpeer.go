package federation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/identity"
)

// FromMeshPeer converts a MeshPeer, with the initial trust bundle its
// Secret holds (PEM certificates or a SPIFFE bundle), into a PeerConfig.
// Every problem is reported, each saying what to fix.
func FromMeshPeer(mp *meshv1.MeshPeer, bundle []byte) (PeerConfig, error) {
	spec := mp.Spec.DeepCopy()
	var errs []error
	td, err := spiffeid.TrustDomainFromString(string(spec.TrustDomain))
	if err != nil {
		errs = append(errs, fmt.Errorf("spec.trustDomain %q: %w", spec.TrustDomain, err))
	}
	pc := PeerConfig{Name: mp.Name, Peer: Peer{Cluster: string(spec.ClusterName), TrustDomain: td, Endpoint: string(spec.FederationEndpoint), Staleness: 10 * time.Minute}}
	if spec.ImportStaleness != "" {
		if pc.Peer.Staleness, err = time.ParseDuration(string(spec.ImportStaleness)); err != nil {
			errs = append(errs, fmt.Errorf("spec.importStaleness: %w", err))
		}
	}
	for _, g := range spec.GatewayAddresses {
		ap, err := netip.ParseAddrPort(string(g))
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.gatewayAddresses: %q is not an IP:port; give the gateway's address (a DNS name is not resolved by proxies)", g))
			continue
		}
		pc.Peer.Gateways = append(pc.Peer.Gateways, ap)
	}
	if pc.InitialBundle, err = parseBundle(td, bundle); err != nil {
		errs = append(errs, fmt.Errorf("trust bundle Secret %s/%s key %q: %w", spec.TrustBundle.SecretRef.Namespace, spec.TrustBundle.SecretRef.Name, spec.TrustBundle.SecretRef.Key, err))
	}
	if tb := spec.TrustBundle; tb.EndpointURL != "" {
		refresh := 5 * time.Minute
		if tb.RefreshInterval != "" {
			if refresh, err = time.ParseDuration(string(tb.RefreshInterval)); err != nil {
				errs = append(errs, fmt.Errorf("spec.trustBundle.refreshInterval: %w", err))
			}
		}
		id, err := spiffeid.FromString(string(tb.EndpointSPIFFEID))
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.trustBundle.endpointSPIFFEID: %w", err))
		}
		pc.Bundle = &BundlePeer{TrustDomain: td, URL: tb.EndpointURL, EndpointID: id, Refresh: refresh}
	}
	return pc, errors.Join(errs...)
}

// parseBundle reads PEM certificates, or a SPIFFE bundle (JWKS) of td.
func parseBundle(td spiffeid.TrustDomain, data []byte) ([]*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, errors.New("is empty: put the peer's root certificates (PEM) or SPIFFE bundle there")
	}
	if b, err := spiffebundle.Parse(td, data); err == nil {
		if roots := b.X509Authorities(); len(roots) > 0 {
			return roots, nil
		}
		return nil, errors.New("holds a SPIFFE bundle without X.509 authorities")
	}
	roots, err := identity.ParseCertificates(data)
	if err != nil {
		return nil, errors.New("holds neither PEM certificates nor a SPIFFE bundle")
	}
	return roots, nil
}
