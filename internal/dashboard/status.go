package dashboard

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Status is a control plane's state at a glance: plexctl status.
type Status struct {
	Cluster     string      `json:"cluster"`
	TrustDomain string      `json:"trustDomain"`
	MTLS        string      `json:"mtls"`
	Services    int         `json:"services"`
	Imported    int         `json:"imported"`
	Proxies     []ProxyInfo `json:"proxies"`
	Peers       []Peer      `json:"peers"`
	NACKs       []NACK      `json:"nacks"`
	// ImportProblems are peers' exports left out, and why.
	ImportProblems []string `json:"importProblems,omitempty"`
}

// ProxyInfo is one connected proxy.
type ProxyInfo struct {
	ID        string `json:"id"`
	Role      string `json:"role"` // sidecar or gateway
	Workload  string `json:"workload,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	IP        string `json:"ip,omitempty"`
	// Identity is the SPIFFE ID its certificate carries.
	Identity     string `json:"identity,omitempty"`
	Interception string `json:"interception"`
	Metrics      string `json:"metrics,omitempty"`
}

// NACK is a configuration a proxy refused.
type NACK struct {
	Proxy   string    `json:"proxy"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// BuildStatus summarises s, with the NACKs the xDS server holds.
func BuildStatus(s Snapshot, nacks []NACK) Status {
	st := Status{Peers: s.Peers, NACKs: nacks}
	if m := s.Mesh; m != nil {
		st.Cluster, st.TrustDomain, st.MTLS = m.Settings.ClusterName, m.Settings.TrustDomain, string(m.Settings.MTLS)
		st.Services, st.Imported, st.ImportProblems = len(m.Services), len(m.Imports), m.ImportProblems
	}
	for id, meta := range s.Proxies {
		st.Proxies = append(st.Proxies, proxyInfo(id, meta, st.TrustDomain))
	}
	slices.SortFunc(st.Proxies, func(a, b ProxyInfo) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(st.NACKs, func(a, b NACK) int { return cmp.Or(strings.Compare(a.Proxy, b.Proxy), strings.Compare(a.Type, b.Type)) })
	if st.Peers == nil {
		st.Peers = []Peer{}
	}
	if st.Proxies == nil {
		st.Proxies = []ProxyInfo{}
	}
	if st.NACKs == nil {
		st.NACKs = []NACK{}
	}
	return st
}

func proxyInfo(id string, meta nodemeta.Metadata, td string) ProxyInfo {
	p := ProxyInfo{ID: id, Role: "sidecar", Workload: meta.Workload, Namespace: meta.Namespace, Cluster: meta.Cluster, IP: meta.IP,
		Interception: cmp.Or(meta.Interception, nodemeta.InterceptionIPTables), Metrics: meta.MetricsURL()}
	if meta.Role == nodemeta.RoleGateway {
		p.Role = "gateway"
	}
	p.Identity = workloadIdentity(td, meta)
	return p
}

// workloadIdentity is the SPIFFE ID a proxy's certificate carries, "" when
// its metadata does not say enough.
func workloadIdentity(td string, meta nodemeta.Metadata) string {
	t, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return ""
	}
	id, err := identity.WorkloadID(t, meta.Namespace, meta.ServiceAccount)
	if err != nil {
		return ""
	}
	return id.String()
}
