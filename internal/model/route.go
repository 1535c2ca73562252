package model

import "time"

// Route is a GAMMA route (HTTPRoute or GRPCRoute) attached to services.
type Route struct {
	Key     NamespacedName `json:"key"`
	GRPC    bool           `json:"grpc,omitempty"`
	Parents []ParentRef    `json:"parents"`
	Rules   []RouteRule    `json:"rules"`
	// Created orders routes for precedence: older routes win ties.
	Created time.Time `json:"created"`
}

// ParentRef is a service (and optionally one of its ports) a route attaches to.
type ParentRef struct {
	Service NamespacedName `json:"service"`
	// Port is 0 for every port of the service.
	Port uint32 `json:"port,omitempty"`
}

// RouteRule is one rule of a route.
type RouteRule struct {
	Name     string       `json:"name,omitempty"`
	Matches  []RouteMatch `json:"matches,omitempty"`
	Filters  Filters      `json:"filters,omitempty"`
	Backends []Backend    `json:"backends,omitempty"`
	// Timeout bounds the whole request; BackendTimeout each attempt.
	Timeout        time.Duration `json:"timeout,omitempty"`
	BackendTimeout time.Duration `json:"backendTimeout,omitempty"`
	Retries        *Retries      `json:"retries,omitempty"`
}

// PathMatchType is how a path is matched.
type PathMatchType string

// Path match types (Gateway API).
const (
	PathExact      PathMatchType = "Exact"
	PathPrefix     PathMatchType = "PathPrefix"
	PathRegularExp PathMatchType = "RegularExpression"
)

// StringMatchType is how a header or query value is matched.
type StringMatchType string

// String match types (Gateway API).
const (
	MatchExact      StringMatchType = "Exact"
	MatchRegularExp StringMatchType = "RegularExpression"
)

// PathMatch matches the request path.
type PathMatch struct {
	Type  PathMatchType `json:"type"`
	Value string        `json:"value"`
}

// ValueMatch matches a header or query parameter.
type ValueMatch struct {
	Type  StringMatchType `json:"type"`
	Name  string          `json:"name"`
	Value string          `json:"value"`
}

// RouteMatch is one set of conditions, all of which must hold. For gRPC
// routes, Path is derived from the service and method.
type RouteMatch struct {
	Path    *PathMatch   `json:"path,omitempty"`
	Headers []ValueMatch `json:"headers,omitempty"`
	Query   []ValueMatch `json:"query,omitempty"`
	Method  string       `json:"method,omitempty"`
}

// HeaderModifier changes headers.
type HeaderModifier struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Redirect answers with a redirect.
type Redirect struct {
	Scheme string `json:"scheme,omitempty"`
	Host   string `json:"host,omitempty"`
	Port   uint32 `json:"port,omitempty"`
	// Path replaces the whole path; PrefixReplace the matched prefix.
	Path          string `json:"path,omitempty"`
	PrefixReplace string `json:"prefixReplace,omitempty"`
	StatusCode    int    `json:"statusCode,omitempty"`
}

// Rewrite changes the request before it is forwarded.
type Rewrite struct {
	Host          string `json:"host,omitempty"`
	Path          string `json:"path,omitempty"`
	PrefixReplace string `json:"prefixReplace,omitempty"`
}

// Filters are a rule's request and response changes.
type Filters struct {
	RequestHeaders  *HeaderModifier `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderModifier `json:"responseHeaders,omitempty"`
	Redirect        *Redirect       `json:"redirect,omitempty"`
	Rewrite         *Rewrite        `json:"rewrite,omitempty"`
}

// Backend is a weighted destination of a rule.
type Backend struct {
	Service NamespacedName `json:"service"`
	Port    uint32         `json:"port"`
	Weight  uint32         `json:"weight"`
}
