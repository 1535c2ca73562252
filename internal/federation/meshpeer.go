package federation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
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
	if spec.ClusterName == "" {
		errs = append(errs, errors.New("spec.clusterName is empty: give the peer Mesh's spec.clusterName"))
	}
	if _, _, err := net.SplitHostPort(pc.Peer.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("spec.federationEndpoint %q is not host:port: %w", pc.Peer.Endpoint, err))
	}
	if spec.ImportStaleness != "" {
		if pc.Peer.Staleness, err = positiveDuration(string(spec.ImportStaleness)); err != nil {
			errs = append(errs, fmt.Errorf("spec.importStaleness: %w", err))
		}
	}
	if !td.IsZero() {
		pc.Peer.Operator, err = operatorIdentity(td, spec)
		if err != nil {
			errs = append(errs, err)
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
			if refresh, err = positiveDuration(string(tb.RefreshInterval)); err != nil {
				errs = append(errs, fmt.Errorf("spec.trustBundle.refreshInterval: %w", err))
			}
		}
		if u, err := url.Parse(tb.EndpointURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("spec.trustBundle.endpointURL %q: want an https:// URL (the https_spiffe profile)", tb.EndpointURL))
		}
		id, err := spiffeid.FromString(string(tb.EndpointSPIFFEID))
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.trustBundle.endpointSPIFFEID: %w", err))
		} else if !id.MemberOf(td) {
			errs = append(errs, fmt.Errorf("spec.trustBundle.endpointSPIFFEID %s is not in the peer's trust domain %s", id, td))
		}
		pc.Bundle = &BundlePeer{TrustDomain: td, URL: tb.EndpointURL, EndpointID: id, Refresh: refresh}
	}
	return pc, errors.Join(errs...)
}

// operatorIdentity is the peer operator's SPIFFE ID: spec.operatorSPIFFEID,
// or the default namespace's operator.
func operatorIdentity(td spiffeid.TrustDomain, spec *meshv1.MeshPeerSpec) (spiffeid.ID, error) {
	if spec.OperatorSPIFFEID == "" {
		return OperatorID(td, DefaultOperatorNamespace)
	}
	id, err := spiffeid.FromString(string(spec.OperatorSPIFFEID))
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("spec.operatorSPIFFEID: %w", err)
	}
	if !id.MemberOf(td) {
		return spiffeid.ID{}, fmt.Errorf("spec.operatorSPIFFEID %s is not in the peer's trust domain %s", id, td)
	}
	return id, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: must be more than zero", s)
	}
	return d, nil
}

// PeerConfigs converts every MeshPeer of the cluster (with trust domain)
// into the peers to federate with, in name order, and names each one that
// cannot be used with the reason: a peer that is this cluster, a trust
// domain another MeshPeer already federates, or anything FromMeshPeer
// refuses. bundle reads a MeshPeer's initial trust bundle.
func PeerConfigs(cluster, trustDomain string, peers []*meshv1.MeshPeer, bundle func(*meshv1.MeshPeer) ([]byte, error)) ([]PeerConfig, map[string]error) {
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b *meshv1.MeshPeer) int { return strings.Compare(a.Name, b.Name) })
	var out []PeerConfig
	invalid := map[string]error{}
	byDomain := map[meshv1.TrustDomain]string{}
	for _, mp := range peers {
		if other, dup := byDomain[mp.Spec.TrustDomain]; dup {
			invalid[mp.Name] = fmt.Errorf("trust domain %s is already the peer of MeshPeer %s: one MeshPeer per peer cluster", mp.Spec.TrustDomain, other)
			continue
		}
		if string(mp.Spec.TrustDomain) == trustDomain || string(mp.Spec.ClusterName) == cluster {
			invalid[mp.Name] = fmt.Errorf("the peer's clusterName and trustDomain must differ from this cluster's (%s, %s)", cluster, trustDomain)
			continue
		}
		byDomain[mp.Spec.TrustDomain] = mp.Name
		data, err := bundle(mp)
		if err != nil {
			invalid[mp.Name] = err
			continue
		}
		pc, err := FromMeshPeer(mp, data)
		if err != nil {
			invalid[mp.Name] = err
			continue
		}
		out = append(out, pc)
	}
	return out, invalid
}

// BundleSecret is where a MeshPeer's initial trust bundle is: the Secret's
// namespace and name, and its key (default "bundle.pem").
func BundleSecret(mp *meshv1.MeshPeer) (namespace, name, key string) {
	ref := mp.Spec.TrustBundle.SecretRef
	key = ref.Key
	if key == "" {
		key = "bundle.pem"
	}
	return ref.Namespace, ref.Name, key
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
