package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// AuthorizationAction is what happens to a request a rule matches.
//
// +kubebuilder:validation:Enum=ALLOW;DENY
type AuthorizationAction string

const (
	// AuthorizationAllow lets matching requests through. Once any ALLOW
	// policy selects a workload, requests that match no ALLOW rule are
	// denied.
	AuthorizationAllow AuthorizationAction = "ALLOW"
	// AuthorizationDeny refuses matching requests. DENY wins over ALLOW.
	AuthorizationDeny AuthorizationAction = "DENY"
)

// AuthorizationPolicySpec selects workloads and says which callers may reach
// them. It is enforced by the destination's sidecar, after mTLS has proven
// the caller's SPIFFE ID.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.targetRefs) && has(self.selector))",message="set targetRefs or selector, not both; omit both to apply the policy to every workload in the namespace"
type AuthorizationPolicySpec struct {
	// TargetRefs are the Services (group "", kind Service) in this namespace
	// whose workloads the policy protects.
	//
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, r.group == '' && r.kind == 'Service')",message="targetRefs may only name a Service (group \"\", kind Service); use selector to pick pods by label"
	// +optional
	TargetRefs []gwapiv1.LocalPolicyTargetReference `json:"targetRefs,omitempty"`

	// Selector picks the protected workloads by pod label.
	//
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Action applied to requests that match a rule. Default: ALLOW.
	//
	// +kubebuilder:default=ALLOW
	// +optional
	Action AuthorizationAction `json:"action,omitempty"`

	// Rules are OR-ed: a request matches the policy when it matches any rule.
	// A rule with neither from nor to matches every request.
	//
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +required
	Rules []AuthorizationRule `json:"rules"`
}

// AuthorizationRule matches requests by caller and by destination. Both parts
// must match; an omitted part matches anything.
type AuthorizationRule struct {
	// From lists callers; a request matches when its caller matches any entry.
	//
	// +kubebuilder:validation:MaxItems=8
	// +optional
	From []AuthorizationSource `json:"from,omitempty"`

	// To lists destinations; a request matches when it matches any entry.
	//
	// +kubebuilder:validation:MaxItems=8
	// +optional
	To []AuthorizationDestination `json:"to,omitempty"`
}

// AuthorizationSource matches a caller by its SPIFFE ID. The fields set in
// one source are AND-ed.
//
// +kubebuilder:validation:XValidation:rule="has(self.spiffeIDs) || has(self.trustDomains) || has(self.namespaces)",message="a from entry must set at least one of spiffeIDs, trustDomains or namespaces"
type AuthorizationSource struct {
	// SPIFFEIDs are exact caller identities, such as
	// "spiffe://east.example/ns/shop/sa/frontend".
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +optional
	SPIFFEIDs []SPIFFEID `json:"spiffeIDs,omitempty"`

	// TrustDomains match every caller from these trust domains, such as a
	// federated peer's "west.example".
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +optional
	TrustDomains []TrustDomain `json:"trustDomains,omitempty"`

	// Namespaces match callers whose identity is in these namespaces (the
	// "/ns/<namespace>/" part of the SPIFFE ID), in any trusted trust domain
	// unless trustDomains is also set.
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
}

// HTTPMethod is an HTTP request method.
//
// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;DELETE;CONNECT;OPTIONS;TRACE;PATCH
type HTTPMethod string

// PathMatch is an exact request path ("/api/orders") or, ending in "*", a
// prefix ("/api/*"). The query string is not part of the path.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:XValidation:rule="self.matches('^/[^?#* ]*[*]?$')",message="must be a path starting with '/', without '?', '#' or spaces, and '*' only at the end for a prefix match (for example /api/*)"
type PathMatch string

// AuthorizationDestination matches what a request asks for. The fields set
// in one destination are AND-ed. Methods and paths apply to HTTP and gRPC
// (gRPC paths are "/package.Service/Method"); a TCP connection matches a
// destination only when it sets nothing but ports.
//
// +kubebuilder:validation:XValidation:rule="has(self.ports) || has(self.methods) || has(self.paths)",message="a to entry must set at least one of ports, methods or paths"
type AuthorizationDestination struct {
	// Ports are the workload's target ports.
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	// +optional
	Ports []int32 `json:"ports,omitempty"`

	// Methods are HTTP methods.
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=9
	// +optional
	Methods []HTTPMethod `json:"methods,omitempty"`

	// Paths are exact paths or, ending in "*", prefixes.
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Paths []PathMatch `json:"paths,omitempty"`
}

// AuthorizationPolicyStatus reports whether the policy is enforced.
type AuthorizationPolicyStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Accepted (the policy is valid and pushed to the selected
	// workloads' sidecars) and ResolvedRefs (every targetRef exists).
	//
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AuthorizationPolicy allows or denies requests to workloads by the caller's
// SPIFFE ID, and by port, method and path.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=plexus,shortName=authz
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec AuthorizationPolicySpec `json:"spec"`

	// +optional
	Status AuthorizationPolicyStatus `json:"status,omitempty"`
}

// AuthorizationPolicyList is a list of AuthorizationPolicy.
//
// +kubebuilder:object:root=true
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}
