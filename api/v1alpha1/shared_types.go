package v1alpha1

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ClusterName names a cluster within a federation of meshes. It appears in
// metric labels, SNI names and DNS names, so it is a DNS label.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (for example east-1)"
type ClusterName string

// TrustDomain is a SPIFFE trust domain name, such as "east.example". It is
// lower case letters, digits, dots, dashes and underscores (SPIFFE ID spec).
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9._-]+$')",message="must be a SPIFFE trust domain: lower-case letters, digits, '.', '-' and '_' only (for example east.example)"
type TrustDomain string

// SPIFFEID is a SPIFFE ID: "spiffe://" + trust domain + a path of one or more
// segments, for example "spiffe://east.example/ns/shop/sa/frontend".
//
// +kubebuilder:validation:MinLength=10
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="self.matches('^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+$')",message="must be a SPIFFE ID: spiffe://<trust domain>/<path>, trust domain in lower case, path segments of letters, digits, '.', '-' and '_' (for example spiffe://east.example/ns/shop/sa/frontend)"
type SPIFFEID string

// HostPort is "host:port" where host is a DNS name, an IPv4 address or an
// IPv6 address in brackets, and port is 1-65535.
//
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=261
// +kubebuilder:validation:XValidation:rule="self.matches(r'^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$')",message="must be host:port, with a DNS name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535 (for example west-gw.example.com:15443)"
type HostPort string

// IPPort is "ip:port": an IPv4 address, or an IPv6 address in brackets,
// and a port from 1 to 65535. Proxies dial it as it is: no DNS.
//
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=47
// +kubebuilder:validation:XValidation:rule="self.matches(r'^(\\[[0-9A-Fa-f:.]+\\]|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$')",message="must be ip:port, with an IPv4 address or a bracketed IPv6 address and a port from 1 to 65535 (for example 203.0.113.10:15443): proxies dial it without DNS"
type IPPort string

// LoadBalancerType selects how a proxy picks an endpoint for each request or
// connection.
//
// +kubebuilder:validation:Enum=RoundRobin;LeastRequest;Random
type LoadBalancerType string

const (
	// LoadBalancerRoundRobin cycles through healthy endpoints in turn.
	LoadBalancerRoundRobin LoadBalancerType = "RoundRobin"
	// LoadBalancerLeastRequest picks the less loaded of two random endpoints
	// (power of two choices).
	LoadBalancerLeastRequest LoadBalancerType = "LeastRequest"
	// LoadBalancerRandom picks a healthy endpoint uniformly at random.
	LoadBalancerRandom LoadBalancerType = "Random"
)

// LoadBalancer configures endpoint selection.
type LoadBalancer struct {
	// Type is the balancing algorithm. Default: RoundRobin.
	//
	// +kubebuilder:default=RoundRobin
	// +optional
	Type LoadBalancerType `json:"type,omitempty"`
}

// RetryOn is a condition under which a failed attempt is retried.
//
// +kubebuilder:validation:Enum=connect-failure;refused-stream;reset;5xx;gateway-error;retriable-4xx;retriable-status-codes;cancelled;deadline-exceeded;unavailable;resource-exhausted
type RetryOn string

// RetryBudget caps retries as a share of active requests, so retries cannot
// multiply load on an upstream that is already failing.
type RetryBudget struct {
	// Percent is the largest share of active requests that may be retries.
	// Default: 20.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	// +optional
	Percent int32 `json:"percent,omitempty"`

	// MinRetriesPerSecond is the retry rate always allowed, whatever the
	// share, so services with little traffic can still retry. Default: 10.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=10
	// +optional
	MinRetriesPerSecond *int32 `json:"minRetriesPerSecond,omitempty"`
}

// Retries configures automatic retries of failed requests.
//
// +kubebuilder:validation:XValidation:rule="!has(self.retriableStatusCodes) || (has(self.retryOn) && 'retriable-status-codes' in self.retryOn)",message="retriableStatusCodes is only used when retryOn includes 'retriable-status-codes': add it to retryOn or remove retriableStatusCodes"
type Retries struct {
	// Attempts is the number of retries after the first try; 0 disables
	// retries.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	Attempts *int32 `json:"attempts,omitempty"`

	// PerTryTimeout bounds each attempt, including the first. Unset: each
	// attempt may use what is left of the request timeout.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="perTryTimeout must be at least 1ms"
	// +optional
	PerTryTimeout *gwapiv1.Duration `json:"perTryTimeout,omitempty"`

	// RetryOn lists the failures that are retried.
	//
	// +listType=set
	// +kubebuilder:validation:MaxItems=11
	// +optional
	RetryOn []RetryOn `json:"retryOn,omitempty"`

	// RetriableStatusCodes are HTTP status codes that are retried when
	// retryOn includes "retriable-status-codes".
	//
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=400
	// +kubebuilder:validation:items:Maximum=599
	// +optional
	RetriableStatusCodes []int32 `json:"retriableStatusCodes,omitempty"`

	// Budget limits the share of requests that may be retries.
	//
	// +optional
	Budget *RetryBudget `json:"budget,omitempty"`
}

// OutlierDetection ejects endpoints that keep failing from the load-balancing
// set for a while, and lets them back in afterwards.
type OutlierDetection struct {
	// Consecutive5xxErrors ejects an endpoint after this many 5xx responses
	// (or gRPC UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED) in a row; 0 turns
	// this check off.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Consecutive5xxErrors *int32 `json:"consecutive5xxErrors,omitempty"`

	// ConsecutiveGatewayErrors ejects an endpoint after this many 502, 503,
	// 504 or connection failures in a row; 0 turns this check off.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ConsecutiveGatewayErrors *int32 `json:"consecutiveGatewayErrors,omitempty"`

	// Interval is how often ejections are reconsidered.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms')",message="outlier detection interval must be at least 100ms"
	// +optional
	Interval *gwapiv1.Duration `json:"interval,omitempty"`

	// BaseEjectionTime is how long an endpoint stays out the first time; it
	// grows with each further ejection.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="baseEjectionTime must be at least 1s"
	// +optional
	BaseEjectionTime *gwapiv1.Duration `json:"baseEjectionTime,omitempty"`

	// MaxEjectionPercent is the largest share of a service's endpoints that
	// may be ejected at once. One endpoint may always be ejected when the
	// service has more than one.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxEjectionPercent *int32 `json:"maxEjectionPercent,omitempty"`
}

// SecretReference names a Secret in a given namespace.
type SecretReference struct {
	// Namespace of the Secret.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// Name of the Secret.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}
