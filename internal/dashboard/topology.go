package dashboard

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
)

// Snapshot is what the control plane knows at one moment: the mesh model
// it serves, the proxies connected to it, and its federation peers. The
// dashboard builds every view from one.
type Snapshot struct {
	Mesh    *model.Mesh
	Proxies map[string]nodemeta.Metadata
	Peers   []Peer
}

// Peer is a federated cluster as this control plane sees it.
type Peer struct {
	// Name of the MeshPeer.
	Name        string    `json:"name"`
	Cluster     string    `json:"cluster"`
	TrustDomain string    `json:"trustDomain"`
	Connected   bool      `json:"connected"`
	LastSync    time.Time `json:"lastSync,omitzero"`
	Imports     int       `json:"imports"`
	Gateways    []string  `json:"gateways,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// ServiceID names a service of a cluster: the topology's node IDs are
// ServiceID, WorkloadID and GatewayID.
func ServiceID(cluster, namespace, name string) string {
	return "service:" + cluster + "/" + namespace + "/" + name
}

// WorkloadID names a caller that serves no Service.
func WorkloadID(cluster, namespace, name string) string {
	return "workload:" + cluster + "/" + namespace + "/" + name
}

// GatewayID names a cluster's east-west gateway.
func GatewayID(cluster string) string { return "gateway:" + cluster }

// BuildTopology draws s with the signals of edges: the local cluster's
// services and their endpoints, peers' imported services in their own
// clusters, callers that serve no Service as workloads, each cluster's
// gateway, and an edge per caller and service with traffic. Services
// the model does not know (seen only in the signals, such as a peer's
// internal calls in a shared Prometheus) are drawn too.
func BuildTopology(s Snapshot, edges []EdgeStats, now time.Time, window time.Duration) Topology {
	b := newBuilder(s)
	for _, e := range edges {
		b.edge(e)
	}
	return b.finish(now, window)
}

type builder struct {
	s     Snapshot
	local string
	nodes map[string]*Node
	// serviceOf maps a local workload to the service it stands for.
	serviceOf map[model.NamespacedName]*model.Service
	clusters  map[string]*Cluster
	edges     map[[2]string]*edgeAcc
}

type edgeAcc struct {
	Edge
	stats []EdgeStats
}

func newBuilder(s Snapshot) *builder {
	m := s.Mesh
	if m == nil {
		m = &model.Mesh{}
	}
	s.Mesh = m
	b := &builder{s: s, local: m.Settings.ClusterName, nodes: map[string]*Node{}, serviceOf: map[model.NamespacedName]*model.Service{},
		clusters: map[string]*Cluster{}, edges: map[[2]string]*edgeAcc{}}
	b.clusters[b.local] = &Cluster{Name: b.local, TrustDomain: m.Settings.TrustDomain, Local: true, Connected: true}
	for _, p := range s.Peers {
		b.clusters[p.Cluster] = &Cluster{Name: p.Cluster, TrustDomain: p.TrustDomain, Connected: p.Connected, Gateways: p.Gateways, Error: p.Error}
	}
	for _, meta := range s.Proxies {
		if meta.Role == nodemeta.RoleGateway {
			c := b.cluster(cmp.Or(meta.Cluster, b.local))
			b.gateway(c.Name)
			if addr := b.gatewayAddress(meta); addr != "" && !slices.Contains(c.Gateways, addr) {
				c.Gateways = append(c.Gateways, addr)
			}
		}
	}
	for _, svc := range m.Services {
		b.services(svc)
	}
	return b
}

// gatewayAddress is where peers reach a gateway of this cluster: its IP
// and the Mesh's east-west port, as peers list theirs.
func (b *builder) gatewayAddress(meta nodemeta.Metadata) string {
	ip, err := netip.ParseAddr(meta.IP)
	if err != nil {
		return ""
	}
	port := b.s.Mesh.Settings.EastWestPort
	if port == 0 {
		port = translate.EastWestPort
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

func (b *builder) cluster(name string) *Cluster {
	c := b.clusters[name]
	if c == nil {
		c = &Cluster{Name: name}
		b.clusters[name] = c
	}
	return c
}

func (b *builder) gateway(cluster string) *Node {
	id := GatewayID(cluster)
	if n := b.nodes[id]; n != nil {
		return n
	}
	n := &Node{ID: id, Kind: KindGateway, Cluster: cluster, Name: cluster + " gateway"}
	b.nodes[id] = n
	b.cluster(cluster).Gateway = id
	return n
}

// services adds the nodes of one model service: its local part, and one
// per peer whose endpoints (gateways) it has.
func (b *builder) services(svc *model.Service) {
	byCluster := map[string][]model.Endpoint{}
	for _, ep := range svc.Endpoints {
		c := cmp.Or(ep.Locality.Cluster, b.local)
		byCluster[c] = append(byCluster[c], ep)
	}
	if _, ok := byCluster[b.local]; !ok && !b.importedOnly(svc) {
		byCluster[b.local] = nil // a local Service with no endpoints
	}
	for cluster, eps := range byCluster {
		n := b.serviceNode(cluster, svc.Key.Namespace, svc.Key.Name)
		n.Endpoints = len(eps)
		for _, ep := range eps {
			if ep.Healthy {
				n.HealthyEndpoints++
			}
		}
		if cluster == b.local {
			n.Exported = svc.Exported
			n.MTLS = string(b.s.Mesh.Settings.MTLSFor(svc.Key.Namespace))
			for _, ep := range eps {
				if prev := b.serviceOf[ep.Workload]; ep.Workload.Name != "" && (prev == nil || shorter(svc.Key.Name, prev.Key.Name)) {
					b.serviceOf[ep.Workload] = svc
				}
			}
		} else {
			n.Imported = true
			b.gateway(cluster)
		}
	}
}

// importedOnly: a service only peers run (no local Service): all its names
// are clusterset names.
func (b *builder) importedOnly(svc *model.Service) bool {
	for _, h := range svc.Hostnames {
		if !strings.HasSuffix(h, "."+model.ClusterSetDomain) {
			return false
		}
	}
	return len(svc.Hostnames) > 0
}

// shorter prefers reviews over reviews-v1 (and, among equals, the first
// by name), so the service a workload stands for does not move.
func shorter(a, b string) bool {
	return len(a) < len(b) || (len(a) == len(b) && a < b)
}

func (b *builder) serviceNode(cluster, namespace, name string) *Node {
	id := ServiceID(cluster, namespace, name)
	if n := b.nodes[id]; n != nil {
		return n
	}
	b.cluster(cluster)
	n := &Node{ID: id, Kind: KindService, Cluster: cluster, Namespace: namespace, Name: name}
	b.nodes[id] = n
	return n
}

// source is the node an edge starts at: the service a local caller serves,
// or the caller workload itself.
func (b *builder) source(e EdgeStats) *Node {
	cluster := cmp.Or(e.SourceCluster, b.local)
	if cluster == b.local {
		if svc := b.serviceOf[model.NamespacedName{Namespace: e.SourceNamespace, Name: e.SourceWorkload}]; svc != nil {
			return b.serviceNode(cluster, svc.Key.Namespace, svc.Key.Name)
		}
	}
	id := WorkloadID(cluster, e.SourceNamespace, e.SourceWorkload)
	if n := b.nodes[id]; n != nil {
		return n
	}
	b.cluster(cluster)
	n := &Node{ID: id, Kind: KindWorkload, Cluster: cluster, Namespace: e.SourceNamespace, Name: e.SourceWorkload}
	b.nodes[id] = n
	return n
}

func (b *builder) edge(e EdgeStats) {
	if e.Service == "" || e.Service == "unknown" {
		// Requests the caller's proxy answered itself, finding no service
		// to send them to: they have no edge to draw. The caller's own
		// callers see them fail, and plexctl check names upstreams that
		// are no service.
		return
	}
	src := b.source(e)
	dst := b.serviceNode(cmp.Or(e.Cluster, b.local), e.Namespace, e.Service)
	key := [2]string{src.ID, dst.ID}
	acc := b.edges[key]
	if acc == nil {
		acc = &edgeAcc{Edge: Edge{Source: src.ID, Target: dst.ID}}
		if src.Cluster != dst.Cluster {
			acc.Via = b.gateway(dst.Cluster).ID
		}
		b.edges[key] = acc
	}
	acc.stats = append(acc.stats, e)
}

// combine sums rates and weighs error rates by requests; latency takes
// the worst caller's (a merged quantile is not known).
func combine(stats []Signals) Signals {
	var out Signals
	var failed float64
	for _, s := range stats {
		out.RPS += s.RPS
		failed += s.RPS * s.ErrorRate
		out.P50 = max(out.P50, s.P50)
		out.P99 = max(out.P99, s.P99)
	}
	if out.RPS > 0 {
		out.ErrorRate = failed / out.RPS
	}
	return out
}

// healthOf classifies signals.
func healthOf(s Signals) string {
	switch {
	case s.RPS == 0:
		return HealthIdle
	case s.ErrorRate > ErrorErrorRate:
		return HealthError
	case s.ErrorRate > WarningErrorRate:
		return HealthWarning
	}
	return HealthOK
}

func (b *builder) finish(now time.Time, window time.Duration) Topology {
	t := Topology{Cluster: b.local, TrustDomain: b.s.Mesh.Settings.TrustDomain, Time: now}
	if window > 0 {
		t.Window = promDuration(window)
	}
	incoming := map[string][]Signals{}
	for _, acc := range b.edges {
		var ss []Signals
		for _, st := range acc.stats {
			ss = append(ss, st.Signals)
		}
		acc.Signals = combine(ss)
		acc.Health = healthOf(acc.Signals)
		incoming[acc.Target] = append(incoming[acc.Target], acc.Signals)
		t.Edges = append(t.Edges, acc.Edge)
	}
	for _, n := range b.nodes {
		n.Signals = combine(incoming[n.ID])
		n.Health = healthOf(n.Signals)
		if n.Kind == KindService && n.Cluster == b.local && n.Endpoints > 0 && n.HealthyEndpoints == 0 {
			n.Health = HealthError
		}
		t.Nodes = append(t.Nodes, *n)
	}
	for _, c := range b.clusters {
		t.Clusters = append(t.Clusters, *c)
	}
	slices.SortFunc(t.Nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(t.Edges, func(a, b Edge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target))
	})
	slices.SortFunc(t.Clusters, func(a, b Cluster) int {
		if a.Local != b.Local {
			if a.Local {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return t
}
