package federation

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
	"github.com/plexus-mesh/plexus/internal/model"
)

// Imports turns a peer's export set into model imports. The set must come
// from the peer it is checked against: its cluster and trust domain, and
// every identity in it, must be the peer's.
func Imports(set *fedpb.ExportSet, peer Peer) ([]*model.Import, error) {
	if set.GetCluster() != peer.Cluster || set.GetTrustDomain() != peer.TrustDomain.Name() {
		return nil, fmt.Errorf("the peer sent the exports of cluster %q, trust domain %q; its MeshPeer says cluster %q, trust domain %q",
			set.GetCluster(), set.GetTrustDomain(), peer.Cluster, peer.TrustDomain.Name())
	}
	gateways := peer.Gateways
	var errs []error
	for _, g := range set.GetGateways() {
		if len(peer.Gateways) > 0 {
			break // the MeshPeer's addresses win
		}
		ap, err := netip.ParseAddrPort(g)
		if err != nil || ap.Port() == 0 {
			errs = append(errs, fmt.Errorf("gateway %q is not an IP:port", g))
			continue
		}
		gateways = append(gateways, ap)
	}
	if len(gateways) == 0 && len(set.GetServices()) > 0 {
		return nil, errors.Join(append(errs, errors.New("the peer exports services but no gateway to reach them through"))...)
	}
	out := make([]*model.Import, 0, len(set.GetServices()))
	seen := map[model.NamespacedName]bool{}
	for _, s := range set.GetServices() {
		key := model.NamespacedName{Namespace: s.GetNamespace(), Name: s.GetName()}
		if msgs := append(validation.IsDNS1123Label(key.Namespace), validation.IsDNS1035Label(key.Name)...); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("service %q: not a valid namespace and Service name: %s", key, strings.Join(msgs, "; ")))
			continue
		}
		if seen[key] {
			errs = append(errs, fmt.Errorf("service %s: exported twice", key))
			continue
		}
		seen[key] = true
		imp := &model.Import{
			Key:         model.NamespacedName{Namespace: s.GetNamespace(), Name: s.GetName()},
			Cluster:     peer.Cluster,
			TrustDomain: peer.TrustDomain.Name(),
			Gateways:    gateways,
		}
		ports, names := map[uint32]bool{}, map[string]bool{}
		for _, p := range s.GetPorts() {
			switch {
			case p.GetPort() == 0 || p.GetPort() > 65535:
				errs = append(errs, fmt.Errorf("service %s: port %d is out of range", imp.Key, p.GetPort()))
				continue
			case ports[p.GetPort()] || names[p.GetName()]:
				errs = append(errs, fmt.Errorf("service %s: port %d (%q) given twice", imp.Key, p.GetPort(), p.GetName()))
				continue
			}
			switch model.Protocol(p.GetProtocol()) {
			case model.ProtocolHTTP, model.ProtocolHTTP2, model.ProtocolGRPC, model.ProtocolTCP, model.ProtocolUnknown:
			default:
				errs = append(errs, fmt.Errorf("service %s: port %d has unknown protocol %q", imp.Key, p.GetPort(), p.GetProtocol()))
				continue
			}
			ports[p.GetPort()], names[p.GetName()] = true, true
			imp.Ports = append(imp.Ports, model.ServicePort{Name: p.GetName(), Port: p.GetPort(), Protocol: model.Protocol(p.GetProtocol())})
		}
		for _, id := range s.GetIdentities() {
			sid, err := spiffeid.FromString(id)
			if err != nil || !sid.MemberOf(peer.TrustDomain) {
				errs = append(errs, fmt.Errorf("service %s: identity %q is not in the peer's trust domain", imp.Key, id))
				continue
			}
			imp.Identities = append(imp.Identities, id)
		}
		// No identity to verify means no mTLS: such a service is not
		// imported rather than called in plaintext across clusters.
		if len(imp.Ports) > 0 && len(imp.Identities) > 0 {
			out = append(out, imp)
		} else if len(imp.Identities) == 0 {
			errs = append(errs, fmt.Errorf("service %s: no sidecar identity to verify, not imported (traffic between clusters is mTLS only)", imp.Key))
		}
	}
	return out, errors.Join(errs...)
}

// ExportSet describes what this cluster exports: its exported Services
// with their local sidecars' identities, and its gateways.
func ExportSet(m *model.Mesh, gateways []string) *fedpb.ExportSet {
	set := &fedpb.ExportSet{Cluster: m.Settings.ClusterName, TrustDomain: m.Settings.TrustDomain, Gateways: gateways}
	for _, svc := range m.Services {
		if !svc.Exported {
			continue
		}
		es := &fedpb.ExportedService{Namespace: svc.Key.Namespace, Name: svc.Key.Name}
		for _, p := range svc.Ports {
			es.Ports = append(es.Ports, &fedpb.Port{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol)})
		}
		es.Identities = svc.LocalIdentities(m.Settings.ClusterName)
		if len(es.Identities) == 0 {
			continue // no sidecar here to serve it: the gateway has no chain for it
		}
		set.Services = append(set.Services, es)
	}
	return set
}
