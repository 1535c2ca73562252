package model

import (
	"fmt"
	"slices"
	"sort"
)

// ClusterSetDomain is the DNS suffix of services across the clusters of a
// mesh (MCS API): <service>.<namespace>.svc.clusterset.local.
const ClusterSetDomain = "svc.clusterset.local"

// FederationServerName is the TLS server name a peer's operator sends to
// reach the federation API of trust domain td through that domain's
// east-west gateway.
func FederationServerName(td string) string { return "federation." + td }

// ApplyImports folds m.Imports into m.Services: each peer's gateways
// become endpoints of the service, in the peer's locality (so they rank
// after local endpoints), carrying the identities behind them. A service
// that exists only in peers becomes a Service of its own, called by its
// clusterset name and VIPs. Ports are matched by port number; an import
// port the local Service lacks is left out (the ServiceExport conflict is
// reported by the exporting side).
//
// A local Service joins the clusterset service only when it is exported
// itself (MCS: the clusterset service is made of the clusters that export
// it). An import named like a local Service that is not exported is left
// out of the model and of m.Imports, with the reason in ImportProblems: a
// peer cannot add endpoints to a Service this cluster keeps to itself.
//
// Call it once, before Validate and Sort.
func (m *Mesh) ApplyImports() {
	byKey := map[NamespacedName]*Service{}
	for _, s := range m.Services {
		byKey[s.Key] = s
	}
	peersOnly := map[NamespacedName]bool{} // services only peers run
	kept := m.Imports[:0:0]
	for _, imp := range m.Imports {
		svc := byKey[imp.Key]
		if svc != nil && !svc.Exported && !peersOnly[imp.Key] {
			m.ImportProblems = append(m.ImportProblems, fmt.Sprintf(
				"cluster %s exports %s, but the Service %s here is not exported: not imported (export it with a ServiceExport to join the two, or rename one of them)",
				imp.Cluster, imp.Key, imp.Key))
			continue
		}
		kept = append(kept, imp)
		if svc == nil {
			svc = &Service{
				Key:       imp.Key,
				Hostnames: []string{imp.Key.Name + "." + imp.Key.Namespace + "." + ClusterSetDomain},
				Ports:     slices.Clone(imp.Ports),
			}
			peersOnly[imp.Key] = true
			byKey[imp.Key] = svc
			m.Services = append(m.Services, svc)
		}
		for _, v := range imp.VIPs {
			if !slices.Contains(svc.VIPs, v) {
				svc.VIPs = append(svc.VIPs, v)
			}
		}
		clusterset := imp.Key.Name + "." + imp.Key.Namespace + "." + ClusterSetDomain
		if !slices.Contains(svc.Hostnames, clusterset) {
			svc.Hostnames = append(svc.Hostnames, clusterset)
		}
		for _, gw := range imp.Gateways {
			ep := Endpoint{
				Address:    gw.Addr(),
				Ports:      map[string]uint32{},
				Locality:   Locality{Cluster: imp.Cluster},
				Healthy:    true,
				Identities: slices.Clone(imp.Identities),
			}
			for _, ip := range imp.Ports {
				for _, sp := range svc.Ports {
					if sp.Port == ip.Port {
						ep.Ports[sp.Name] = uint32(gw.Port())
					}
				}
			}
			if len(ep.Ports) > 0 {
				svc.Endpoints = append(svc.Endpoints, ep)
			}
		}
	}
	m.Imports = kept
	sort.Slice(m.Services, func(i, j int) bool { return m.Services[i].Key.Less(m.Services[j].Key) })
}

// LocalIdentities are the SPIFFE IDs of the sidecars serving s in cluster,
// in endpoint order, each once: what a peer verifies when it calls s
// through the east-west gateway. None means no sidecar here can serve
// peers.
func (s *Service) LocalIdentities(cluster string) []string {
	var out []string
	for _, ep := range s.Endpoints {
		local := ep.Locality.Cluster == "" || ep.Locality.Cluster == cluster
		if local && ep.Identity != "" && !slices.Contains(out, ep.Identity) {
			out = append(out, ep.Identity)
		}
	}
	return out
}
