package config

import (
	"crypto/x509"
	"regexp"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Direction is where a listener's traffic flows relative to the workload.
type Direction int

// Directions.
const (
	Outbound Direction = iota
	Inbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "inbound"
	}
	return "outbound"
}

// Listener accepts connections on one address and dispatches each to a
// filter chain.
type Listener struct {
	Name      string
	Address   string // host:port
	Direction Direction
	// BindToPort false means the listener does not open a socket: it only
	// receives connections handed over by a listener with UseOriginalDst,
	// whose original destination matches Address (or its port, when the
	// host is 0.0.0.0).
	BindToPort     bool
	UseOriginalDst bool
	FilterChains   []*FilterChain
	DefaultChain   *FilterChain
}

// ChainMatch selects a filter chain for a connection. Zero values match
// anything.
type ChainMatch struct {
	DestinationPort uint32
	// TransportProtocol is "tls" or "raw_buffer" (sniffed), or empty.
	TransportProtocol string
	// ApplicationProtocols match the TLS ALPN, or "http/1.1"/"h2c" sniffed
	// on plaintext.
	ApplicationProtocols []string
	// ServerNames match the TLS ClientHello's server name, exactly or as
	// "*.suffix" (any name ending in ".suffix"), read without terminating
	// TLS: an east-west gateway routes on it.
	ServerNames []string
}

// FilterChain handles a connection: optionally terminates TLS, then proxies
// HTTP or opaque TCP.
type FilterChain struct {
	Name  string
	Match ChainMatch
	TLS   *DownstreamTLS
	// RBAC authorizes each connection, in order, before TCP proxying.
	RBAC []*RBAC
	HTTP *HTTPManager
	TCP  *TCPProxy
}

// DownstreamTLS terminates TLS (mTLS between sidecars).
type DownstreamTLS struct {
	CertificateSecret string
	ValidationSecret  string
	RequireClientCert bool
	ALPN              []string
	// TrustDomains the client's SPIFFE ID must be a member of one of
	// (SAN matchers "spiffe://<trust domain>/"); empty means any trust
	// domain the proxy holds a bundle for, its own and federated ones.
	TrustDomains []string
}

// HTTPManager proxies HTTP/1.1, HTTP/2 and gRPC.
type HTTPManager struct {
	StatPrefix string
	// RBAC authorizes each request, in order, before routing.
	RBAC []*RBAC
	// RouteName names a RouteConfiguration from RDS; Routes is set instead
	// when the routes are inline.
	RouteName string
	Routes    *RouteTable
	// IdleTimeout closes a downstream connection with no active requests.
	IdleTimeout time.Duration
	// StreamIdleTimeout resets a request with no activity in either
	// direction; 0 means none.
	StreamIdleTimeout time.Duration
	// RequestHeadersTimeout bounds reading request headers (slowloris).
	RequestHeadersTimeout time.Duration
	// MaxRequestHeadersBytes bounds request header size.
	MaxRequestHeadersBytes int
}

// TCPProxy forwards opaque TCP to a cluster.
type TCPProxy struct {
	StatPrefix  string
	Cluster     string
	IdleTimeout time.Duration
}

// LBPolicy selects endpoints.
type LBPolicy int

// Load balancing policies.
const (
	RoundRobin LBPolicy = iota
	LeastRequest
	Random
)

func (p LBPolicy) String() string {
	return [...]string{"round_robin", "least_request", "random"}[p]
}

// Limits are per-proxy circuit breaker thresholds for one cluster.
type Limits struct {
	MaxConnections     int
	MaxPendingRequests int
	MaxRequests        int
	MaxRetries         int
	// RetryBudgetPercent, when set, caps active retries at this share of
	// active requests (replacing MaxRetries); MinRetryConcurrency is always
	// allowed.
	RetryBudgetPercent  float64
	MinRetryConcurrency int
}

// OutlierDetection ejects failing endpoints.
type OutlierDetection struct {
	Consecutive5xx           int // 0: off
	ConsecutiveGatewayErrors int // 0: off
	Interval                 time.Duration
	BaseEjectionTime         time.Duration
	MaxEjectionTime          time.Duration
	MaxEjectionPercent       int
}

// UpstreamTLS originates TLS (mTLS to another sidecar).
type UpstreamTLS struct {
	CertificateSecret string
	ValidationSecret  string
	// SPIFFEIDs the peer certificate must carry one of (URI SAN); empty
	// means any identity the trust bundle vouches for.
	SPIFFEIDs []string
	SNI       string
	ALPN      []string
}

// Protocol is what a cluster's endpoints speak.
type Protocol int

// Upstream protocols.
const (
	// HTTP1 sends HTTP/1.1 (and upgrades such as WebSocket).
	HTTP1 Protocol = iota
	// HTTP2 sends HTTP/2: h2c in plaintext, h2 over TLS. gRPC needs it.
	HTTP2
	// UseDownstream speaks whatever the downstream request used.
	UseDownstream
)

// Service identifies the mesh service a cluster belongs to, for metrics.
type Service struct {
	Name      string
	Namespace string
	Cluster   string
}

// Cluster is a set of endpoints and how to reach them.
type Cluster struct {
	Name string
	// EDSName is the ClusterLoadAssignment to subscribe to; empty when
	// Static is set or for an original destination cluster.
	EDSName string
	// OriginalDst sends each connection where it was going before it was
	// intercepted (passthrough to destinations outside the mesh).
	OriginalDst      bool
	Static           *Endpoints
	LB               LBPolicy
	ConnectTimeout   time.Duration
	IdleTimeout      time.Duration
	Limits           Limits
	OutlierDetection *OutlierDetection
	TLS              *UpstreamTLS
	Protocol         Protocol
	Service          Service
}

// HealthStatus of an endpoint as the control plane sees it.
type HealthStatus int

// Endpoint health.
const (
	Healthy HealthStatus = iota
	Unhealthy
	Draining
)

// Endpoint is one address of a cluster.
type Endpoint struct {
	Address string // host:port
	Weight  uint32
	Health  HealthStatus
}

// Locality groups endpoints in one place. Lower Priority is preferred;
// traffic moves to the next priority when a priority has no healthy
// endpoint.
type Locality struct {
	Region, Zone, SubZone string
	Priority              uint32
	Endpoints             []Endpoint
}

// Endpoints is the compiled ClusterLoadAssignment of one cluster.
type Endpoints struct {
	ClusterName string
	Localities  []Locality
}

// Secret is TLS material: a workload certificate (SVID) with its key, or
// trusted roots. The PEM is parsed once, when the secret arrives.
type Secret struct {
	Name string
	// SVID is set for a certificate secret.
	SVID *x509svid.SVID
	// Roots is set for a validation secret.
	Roots []*x509.Certificate
}

// RouteTable is a compiled RouteConfiguration.
type RouteTable struct {
	Name         string
	VirtualHosts []*VirtualHost
	// exact indexes the virtual hosts by their domains without wildcards,
	// so the common lookup on the request path is one map access.
	exact map[string]*VirtualHost
}

// ExactHost returns the virtual host with exactly this (lower case)
// domain, or nil. Tables not built by CompileRouteTable have no index and
// always return nil.
func (rt *RouteTable) ExactHost(domain string) *VirtualHost { return rt.exact[domain] }

// VirtualHost matches requests by authority.
type VirtualHost struct {
	Name            string
	Domains         []string
	Routes          []*Route
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
	Retry           *RetryPolicy
}

// Route matches a request and says what to do with it. Exactly one of
// Forward, Redirect and Direct is set.
type Route struct {
	Name            string
	Match           RouteMatch
	Forward         *Forward
	Redirect        *Redirect
	Direct          *DirectResponse
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
}

// PathMatchKind is how a route matches the path.
type PathMatchKind int

// Path match kinds.
const (
	PathPrefix PathMatchKind = iota
	PathExact
	PathRegex
	// PathSegmentPrefix matches a prefix on a "/" boundary, as Gateway
	// API's PathPrefix does ("/api" matches "/api" and "/api/x", not
	// "/apix").
	PathSegmentPrefix
)

// RouteMatch is the conditions a request must meet; all must hold.
type RouteMatch struct {
	PathKind        PathMatchKind
	Path            string
	PathRegex       *regexp.Regexp
	CaseInsensitive bool
	Headers         []HeaderMatch
	Query           []QueryMatch
	GRPCOnly        bool
}

// StringMatchKind is how a header or query value is compared.
type StringMatchKind int

// String match kinds.
const (
	MatchExact StringMatchKind = iota
	MatchPrefix
	MatchSuffix
	MatchContains
	MatchRegex
	MatchPresent
)

// StringMatch compares one value.
type StringMatch struct {
	Kind       StringMatchKind
	Value      string
	Regex      *regexp.Regexp
	IgnoreCase bool
}

// HeaderMatch matches a request header (":method" and ":authority" too).
type HeaderMatch struct {
	Name   string // canonical lower case
	Match  StringMatch
	Invert bool
}

// QueryMatch matches a query parameter.
type QueryMatch struct {
	Name  string
	Match StringMatch
}

// WeightedBackend is one cluster of a split.
type WeightedBackend struct {
	Cluster         string
	Weight          uint32
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
}

// Forward sends the request upstream.
type Forward struct {
	Backends    []WeightedBackend
	TotalWeight uint32
	// Timeout bounds the whole request including retries; 0 means none.
	Timeout       time.Duration
	IdleTimeout   time.Duration
	Retry         *RetryPolicy
	PrefixRewrite string
	RegexRewrite  *regexp.Regexp
	RegexSubst    string // a Regexp.ReplaceAllString template (${1})
	HostRewrite   string
}

// RetryOn is a set of retry conditions.
type RetryOn uint32

// Retry conditions (Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on names).
const (
	Retry5xx RetryOn = 1 << iota
	RetryGatewayError
	RetryReset
	RetryConnectFailure
	RetryRetriable4xx
	RetryRefusedStream
	RetryRetriableStatusCodes
	RetryGRPCCancelled
	RetryGRPCDeadlineExceeded
	RetryGRPCUnavailable
	RetryGRPCResourceExhausted
	RetryGRPCInternal
)

// RetryPolicy says when and how often to retry.
type RetryPolicy struct {
	On                   RetryOn
	Attempts             int // retries after the first try
	PerTryTimeout        time.Duration
	RetriableStatusCodes []int
	BackoffBase          time.Duration
	BackoffMax           time.Duration
}

// Redirect answers with a redirect.
type Redirect struct {
	Scheme        string
	Host          string
	Port          uint32
	Path          string
	PrefixRewrite string
	Code          int
	StripQuery    bool
}

// DirectResponse answers with a fixed response.
type DirectResponse struct {
	Status int
	Body   string
}

// HeaderAction says what adding a header does when it is already present.
type HeaderAction int

// Header actions.
const (
	HeaderAppend HeaderAction = iota
	HeaderOverwrite
	HeaderAddIfAbsent
)

// HeaderValue is one header to add.
type HeaderValue struct {
	Name   string
	Value  string
	Action HeaderAction
}

// HeaderMutation adds and removes headers.
type HeaderMutation struct {
	Add    []HeaderValue
	Remove []string
}

// Empty reports whether the mutation does nothing.
func (m HeaderMutation) Empty() bool { return len(m.Add) == 0 && len(m.Remove) == 0 }

// Matches reports whether value matches.
func (m *StringMatch) Matches(value string) bool {
	if m.IgnoreCase {
		value = strings.ToLower(value)
	}
	switch m.Kind {
	case MatchExact:
		return value == m.Value
	case MatchPrefix:
		return strings.HasPrefix(value, m.Value)
	case MatchSuffix:
		return strings.HasSuffix(value, m.Value)
	case MatchContains:
		return strings.Contains(value, m.Value)
	case MatchRegex:
		return m.Regex.MatchString(value)
	default: // present
		return true
	}
}
