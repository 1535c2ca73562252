package model

import (
	"net/netip"
	"time"
)

// NamespacedName identifies a namespaced object.
type NamespacedName struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// Less orders names by namespace, then name.
func (n NamespacedName) Less(o NamespacedName) bool {
	if n.Namespace != o.Namespace {
		return n.Namespace < o.Namespace
	}
	return n.Name < o.Name
}

// Mesh is everything the control plane knows in one cluster, independent
// of where it came from (Kubernetes or local mode).
type Mesh struct {
	Settings              Settings               `json:"settings"`
	Services              []*Service             `json:"services,omitempty"`
	Workloads             []*Workload            `json:"workloads,omitempty"`
	Routes                []*Route               `json:"routes,omitempty"`
	TrafficPolicies       []*TrafficPolicy       `json:"trafficPolicies,omitempty"`
	AuthorizationPolicies []*AuthorizationPolicy `json:"authorizationPolicies,omitempty"`
	// Imports are the services peer clusters export to this one.
	Imports []*Import `json:"imports,omitempty"`
	// ImportProblems say which imports ApplyImports left out, and why.
	ImportProblems []string `json:"importProblems,omitempty"`
}

// Import is a service a peer cluster exports: reached through that
// cluster's east-west gateways, by SNI, with mTLS end to end.
type Import struct {
	Key NamespacedName `json:"key"`
	// Cluster and TrustDomain are the exporting peer's.
	Cluster     string        `json:"cluster"`
	TrustDomain string        `json:"trustDomain"`
	Ports       []ServicePort `json:"ports"`
	// Gateways are the peer's east-west gateway addresses.
	Gateways []netip.AddrPort `json:"gateways"`
	// Identities are the SPIFFE IDs of the service's endpoints there.
	Identities []string `json:"identities,omitempty"`
	// VIPs are the clusterset IPs callers here use for the service when it
	// has no local Service (ServiceImport spec.ips).
	VIPs []netip.Addr `json:"vips,omitempty"`
}

// MTLSMode is how sidecars treat inbound plaintext.
type MTLSMode string

// mTLS modes.
const (
	MTLSStrict     MTLSMode = "STRICT"
	MTLSPermissive MTLSMode = "PERMISSIVE"
)

// Settings are the mesh-wide settings, defaults resolved.
type Settings struct {
	ClusterName string   `json:"clusterName"`
	Network     string   `json:"network"`
	TrustDomain string   `json:"trustDomain"`
	MTLS        MTLSMode `json:"mtls"`
	// NamespaceMTLS overrides MTLS per namespace.
	NamespaceMTLS map[string]MTLSMode `json:"namespaceMTLS,omitempty"`
	// Traffic is the resilience every service gets by default.
	Traffic Traffic `json:"traffic"`
	// EastWestPort is where the east-west gateway takes peers'
	// connections; 0 means 15443.
	EastWestPort uint32 `json:"eastWestPort,omitempty"`
	// FederationAddress is where the east-west gateway forwards peers'
	// connections to the federation API (host:port); empty: the gateway
	// does not carry it.
	FederationAddress string `json:"federationAddress,omitempty"`
	// CertificateTTL is the lifetime of workload certificates the
	// built-in CA issues; 0 means the default, 24h.
	CertificateTTL time.Duration `json:"certificateTTL,omitempty"`
	// RootRotation is the latest request to rotate the CA's root (the
	// Mesh annotation mesh.plexus.dev/rotate-root); each new value starts
	// one rotation.
	RootRotation string `json:"rootRotation,omitempty"`
	// RootCASecret names a Secret with a CA of the user's; the mesh CA
	// then issues from an intermediate it signs. Nil: a self-signed root.
	RootCASecret *NamespacedName `json:"rootCASecret,omitempty"`
}

// DefaultCertificateTTL is the workload certificate lifetime unless the
// Mesh sets another.
const DefaultCertificateTTL = 24 * time.Hour

// WorkloadCertificateTTL is the lifetime of workload certificates.
func (s *Settings) WorkloadCertificateTTL() time.Duration {
	if s.CertificateTTL > 0 {
		return s.CertificateTTL
	}
	return DefaultCertificateTTL
}

// MTLSFor returns the mode in effect in a namespace.
func (s *Settings) MTLSFor(namespace string) MTLSMode {
	if m, ok := s.NamespaceMTLS[namespace]; ok {
		return m
	}
	return s.MTLS
}

// Protocol is what a service port speaks.
type Protocol string

// Protocols.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTP2 Protocol = "HTTP2"
	ProtocolGRPC  Protocol = "GRPC"
	ProtocolTCP   Protocol = "TCP"
	// ProtocolUnknown is sniffed by the proxy.
	ProtocolUnknown Protocol = ""
)

// IsHTTP reports whether the protocol is proxied as HTTP.
func (p Protocol) IsHTTP() bool { return p == ProtocolHTTP || p == ProtocolHTTP2 || p == ProtocolGRPC }

// Service is a set of endpoints behind one name.
type Service struct {
	Key NamespacedName `json:"key"`
	// Hostnames the service is called by, most specific first, such as
	// reviews.shop.svc.cluster.local.
	Hostnames []string          `json:"hostnames,omitempty"`
	VIPs      []netip.Addr      `json:"vips,omitempty"`
	Ports     []ServicePort     `json:"ports"`
	Endpoints []Endpoint        `json:"endpoints,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// ExportTo are the namespaces whose proxies see the service, besides
	// its own; nil means every namespace.
	ExportTo []string `json:"exportTo,omitempty"`
	// Exported: a ServiceExport makes the service reachable from peer
	// clusters through this cluster's east-west gateways.
	Exported bool `json:"exported,omitempty"`
}

// ServicePort is one port of a service.
type ServicePort struct {
	Name     string   `json:"name,omitempty"`
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol,omitempty"`
}

// Locality is where an endpoint runs.
type Locality struct {
	Cluster string `json:"cluster,omitempty"`
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
}

// Endpoint is one instance of a service.
type Endpoint struct {
	Address netip.Addr `json:"address"`
	// Ports maps the service's port names ("" for an unnamed port) to the
	// port the endpoint listens on.
	Ports    map[string]uint32 `json:"ports"`
	Locality Locality          `json:"locality"`
	Healthy  bool              `json:"healthy"`
	// Identity is the SPIFFE ID the endpoint's sidecar presents.
	Identity string `json:"identity,omitempty"`
	// Identities, for a peer cluster's east-west gateway, are the SPIFFE
	// IDs of the endpoints behind it: the gateway passes TLS through, so
	// the client meets them, not the gateway.
	Identities []string       `json:"identities,omitempty"`
	Workload   NamespacedName `json:"workload"`
}

// Workload is a pod (or local-mode process) with a sidecar.
type Workload struct {
	Key            NamespacedName    `json:"key"`
	Name           string            `json:"name"`
	ServiceAccount string            `json:"serviceAccount"`
	Address        netip.Addr        `json:"address"`
	Labels         map[string]string `json:"labels,omitempty"`
	Ports          []ServicePort     `json:"ports,omitempty"`
	// Egress narrows the services the workload's proxy receives to those
	// it names; empty means every service visible from its namespace.
	Egress []EgressRule `json:"egress,omitempty"`
	// MTLS overrides the namespace's mTLS mode for this workload; "" keeps
	// it.
	MTLS MTLSMode `json:"mtls,omitempty"`
}

// LoadBalancer is an endpoint selection algorithm.
type LoadBalancer string

// Load balancers.
const (
	RoundRobin   LoadBalancer = "RoundRobin"
	LeastRequest LoadBalancer = "LeastRequest"
	Random       LoadBalancer = "Random"
)

// Retries configures retrying a request.
type Retries struct {
	Attempts      int           `json:"attempts"`
	PerTryTimeout time.Duration `json:"perTryTimeout,omitempty"`
	// On lists Envoy retry conditions ("5xx", "connect-failure",
	// "unavailable", ...).
	On          []string      `json:"on,omitempty"`
	StatusCodes []uint32      `json:"statusCodes,omitempty"`
	Backoff     time.Duration `json:"backoff,omitempty"`
	// BudgetPercent caps retries at a share of active requests; 0 leaves
	// the per-cluster retry limit in charge.
	BudgetPercent       float64 `json:"budgetPercent,omitempty"`
	MinRetriesPerSecond uint32  `json:"minRetriesPerSecond,omitempty"`
}

// CircuitBreaker limits concurrent load on a service, per proxy.
type CircuitBreaker struct {
	MaxConnections     uint32 `json:"maxConnections,omitempty"`
	MaxPendingRequests uint32 `json:"maxPendingRequests,omitempty"`
	MaxRequests        uint32 `json:"maxRequests,omitempty"`
	MaxRetries         uint32 `json:"maxRetries,omitempty"`
}

// OutlierDetection ejects failing endpoints.
type OutlierDetection struct {
	Consecutive5xx           uint32        `json:"consecutive5xx,omitempty"`
	ConsecutiveGatewayErrors uint32        `json:"consecutiveGatewayErrors,omitempty"`
	Interval                 time.Duration `json:"interval"`
	BaseEjectionTime         time.Duration `json:"baseEjectionTime"`
	MaxEjectionPercent       uint32        `json:"maxEjectionPercent"`
}

// Traffic is a complete resilience configuration for a service.
type Traffic struct {
	LoadBalancer     LoadBalancer      `json:"loadBalancer"`
	ConnectTimeout   time.Duration     `json:"connectTimeout"`
	RequestTimeout   time.Duration     `json:"requestTimeout,omitempty"`
	IdleTimeout      time.Duration     `json:"idleTimeout,omitempty"`
	Retries          *Retries          `json:"retries,omitempty"`
	CircuitBreaker   *CircuitBreaker   `json:"circuitBreaker,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}
