package dashboard

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The JSON the dashboard's API serves, read by its web UI and by plexctl.
// Field names are part of the API: plexctl and scripts depend on them.

// Topology is the mesh as the dashboard draws it: services (and callers
// that are not services) grouped by cluster, the east-west gateways, and
// the edges between them with their golden signals.
type Topology struct {
	// Cluster and TrustDomain are this control plane's.
	Cluster     string `json:"cluster"`
	TrustDomain string `json:"trustDomain"`
	// Time the topology was built; Window the rates are over ("1m").
	Time   time.Time `json:"time"`
	Window string    `json:"window"`
	// Source of the signals: "prometheus", "proxies" (the control plane
	// scrapes them itself) or "" (none yet), and its last error.
	Source      string    `json:"source"`
	SourceError string    `json:"sourceError,omitempty"`
	Clusters    []Cluster `json:"clusters"`
	Nodes       []Node    `json:"nodes"`
	Edges       []Edge    `json:"edges"`
}

// Cluster is one cluster of the mesh as this control plane knows it: its
// own, or a peer.
type Cluster struct {
	Name        string `json:"name"`
	TrustDomain string `json:"trustDomain,omitempty"`
	Local       bool   `json:"local"`
	// Connected: for a peer, whether its federation stream is up.
	Connected bool `json:"connected"`
	// Gateway is the node ID of the cluster's east-west gateway, if any.
	Gateway string `json:"gateway,omitempty"`
	// Gateways are its gateways' addresses.
	Gateways []string `json:"gateways,omitempty"`
	// Error is the peer's last federation problem.
	Error string `json:"error,omitempty"`
}

// Node kinds.
const (
	KindService  = "service"
	KindWorkload = "workload" // a caller that serves no Service
	KindGateway  = "gateway"
)

// Health of a node or edge, which the UI colours.
const (
	HealthOK      = "ok"
	HealthWarning = "warning" // error rate above WarningErrorRate
	HealthError   = "error"   // error rate above ErrorErrorRate, or no healthy endpoint
	HealthIdle    = "idle"    // no traffic in the window
)

// Thresholds of edge health.
const (
	WarningErrorRate = 0.01
	ErrorErrorRate   = 0.05
)

// Node is a service, a caller workload, or a gateway.
type Node struct {
	// ID is unique in the topology: "service:<cluster>/<namespace>/<name>",
	// "workload:<cluster>/<namespace>/<name>", "gateway:<cluster>".
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Exported: a Service this cluster exports to its peers. Imported: a
	// peer's service known here through federation.
	Exported bool `json:"exported,omitempty"`
	Imported bool `json:"imported,omitempty"`
	// Endpoints and how many are healthy (for services of this cluster).
	Endpoints        int `json:"endpoints"`
	HealthyEndpoints int `json:"healthyEndpoints"`
	// MTLS is the mode its endpoints take traffic in: STRICT or PERMISSIVE.
	MTLS   string `json:"mtls,omitempty"`
	Health string `json:"health"`
	// Signals of the requests it receives, over the window.
	Signals Signals `json:"signals"`
}

// Edge is traffic from one node to another over the window.
type Edge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Via is the gateway node a cross-cluster edge goes through.
	Via     string  `json:"via,omitempty"`
	Signals Signals `json:"signals"`
	Health  string  `json:"health"`
}

// Signals are golden signals over a window.
type Signals struct {
	// RPS: requests per second. ErrorRate: failed / all, 0 to 1.
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"errorRate"`
	// P50 and P99 latency in milliseconds; 0 without traffic.
	P50 float64 `json:"p50ms"`
	P99 float64 `json:"p99ms"`
}

// ServiceDetail is one service's page.
type ServiceDetail struct {
	Node
	Hostnames []string        `json:"hostnames,omitempty"`
	Addresses []string        `json:"addresses,omitempty"`
	Ports     []Port          `json:"ports"`
	Endpoints []Endpoint      `json:"endpoints"`
	Routes    []RouteSummary  `json:"routes,omitempty"`
	Policies  []PolicySummary `json:"policies,omitempty"`
	// Identities are the SPIFFE IDs its endpoints serve with.
	Identities []string `json:"identities,omitempty"`
	// Callers and Calls are its edges in the topology.
	Callers []Edge `json:"callers,omitempty"`
	Calls   []Edge `json:"calls,omitempty"`
	// Series are its golden signals over time (received requests).
	Series *Series `json:"series,omitempty"`
	// SourceError says why Series is missing.
	SourceError string `json:"sourceError,omitempty"`
}

// Port is a service port.
type Port struct {
	Name     string `json:"name,omitempty"`
	Port     uint32 `json:"port"`
	Protocol string `json:"protocol"`
}

// Endpoint is one instance of a service.
type Endpoint struct {
	Address  string `json:"address"`
	Cluster  string `json:"cluster"`
	Workload string `json:"workload,omitempty"`
	Identity string `json:"identity,omitempty"`
	Healthy  bool   `json:"healthy"`
	// Gateway: a peer cluster's gateway standing for its instances.
	Gateway bool `json:"gateway,omitempty"`
}

// RouteSummary is a route attached to the service.
type RouteSummary struct {
	Kind      string `json:"kind"` // HTTPRoute or GRPCRoute
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Rules describe each rule in a line: matches, then backends with
	// weights, filters, timeouts.
	Rules []string `json:"rules"`
}

// PolicySummary is a policy that applies to the service.
type PolicySummary struct {
	Kind      string `json:"kind"` // TrafficPolicy or AuthorizationPolicy
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Summary   string `json:"summary"`
}

// Series are golden signals at regular steps.
type Series struct {
	// Step between points, in seconds.
	Step Seconds `json:"stepSeconds"`
	// Times are Unix seconds; the other slices have one value per time.
	Times     []int64   `json:"times"`
	RPS       []float64 `json:"rps"`
	ErrorRate []float64 `json:"errorRate"`
	P50       []float64 `json:"p50ms"`
	P99       []float64 `json:"p99ms"`
}

// Seconds is a duration that JSON carries as a number of seconds.
type Seconds time.Duration

// MarshalJSON writes the seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', -1, 64)), nil
}

// UnmarshalJSON reads seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

// EdgeStats are the signals of one caller workload calling one service,
// as the caller's proxy measured them (outbound).
type EdgeStats struct {
	SourceWorkload, SourceNamespace, SourceCluster string
	Service, Namespace, Cluster                    string
	Signals
}

// ServiceKey names a service in a cluster.
type ServiceKey struct {
	Cluster, Namespace, Name string
}

// Metrics is where signals come from: Prometheus when the control plane is
// given one, or the proxies' own metrics scraped by the control plane.
type Metrics interface {
	// Name is "prometheus" or "proxies".
	Name() string
	// Edges are every edge's signals over the last window.
	Edges(ctx context.Context, window time.Duration) ([]EdgeStats, error)
	// Series are the signals of the requests a service received (as its
	// callers saw them) over the last span, at step.
	Series(ctx context.Context, svc ServiceKey, span, step time.Duration) (*Series, error)
}
