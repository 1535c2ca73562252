package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TrafficPolicySpec holds the resilience settings Gateway API routes do not
// express. Unset fields fall back to the Mesh's traffic defaults; timeouts
// and retries set on an HTTPRoute rule take precedence over this policy.
//
// +kubebuilder:validation:XValidation:rule="has(self.loadBalancer) || has(self.timeouts) || has(self.retries) || has(self.circuitBreaker) || has(self.outlierDetection)",message="a TrafficPolicy must set at least one of loadBalancer, timeouts, retries, circuitBreaker or outlierDetection"
// +kubebuilder:validation:XValidation:rule="!has(self.retries) || !has(self.retries.perTryTimeout) || !has(self.timeouts) || !has(self.timeouts.request) || duration(self.timeouts.request) == duration('0s') || duration(self.retries.perTryTimeout) <= duration(self.timeouts.request)",message="retries.perTryTimeout must not be longer than timeouts.request: lower perTryTimeout or raise the request timeout"
type TrafficPolicySpec struct {
	// TargetRefs are the Services (group "", kind Service) or multi-cluster
	// ServiceImports (group multicluster.x-k8s.io) in this namespace that the
	// policy applies to. A sectionName narrows it to one named port.
	//
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, (r.group == '' && r.kind == 'Service') || (r.group == 'multicluster.x-k8s.io' && r.kind == 'ServiceImport'))",message="targetRefs may only name a Service (group \"\", kind Service) or a ServiceImport (group multicluster.x-k8s.io, kind ServiceImport)"
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.filter(b, a.group == b.group && a.kind == b.kind && a.name == b.name && (has(a.sectionName) ? (has(b.sectionName) && a.sectionName == b.sectionName) : !has(b.sectionName))).size() == 1)",message="targetRefs must not name the same target (group, kind, name and sectionName) twice"
	// +required
	TargetRefs []gwapiv1.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs"`

	// LoadBalancer overrides the Mesh's balancing algorithm.
	//
	// +optional
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`

	// Timeouts for connections and requests to the targets.
	//
	// +optional
	Timeouts *Timeouts `json:"timeouts,omitempty"`

	// Retries of failed requests to the targets.
	//
	// +optional
	Retries *Retries `json:"retries,omitempty"`

	// CircuitBreaker limits concurrent load on the targets; requests beyond
	// the limits fail fast with 503 instead of queueing.
	//
	// +optional
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`

	// OutlierDetection ejects failing endpoints of the targets.
	//
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}

// Timeouts bounds connections and requests.
//
// +kubebuilder:validation:XValidation:rule="has(self.connect) || has(self.request) || has(self.idle)",message="timeouts must set at least one of connect, request or idle"
type Timeouts struct {
	// Connect bounds establishing a connection to an endpoint.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('5m')",message="timeouts.connect must be between 1ms and 5m"
	// +optional
	Connect *gwapiv1.Duration `json:"connect,omitempty"`

	// Request bounds a whole request, retries included; "0s" means no limit.
	//
	// +optional
	Request *gwapiv1.Duration `json:"request,omitempty"`

	// Idle closes a connection or stream with no traffic for this long;
	// "0s" means never. Default: 1h.
	//
	// +optional
	Idle *gwapiv1.Duration `json:"idle,omitempty"`
}

// CircuitBreaker caps the load a proxy puts on one service. Each limit is per
// proxy, not global.
//
// +kubebuilder:validation:XValidation:rule="has(self.maxConnections) || has(self.maxPendingRequests) || has(self.maxRequests) || has(self.maxRetries)",message="circuitBreaker must set at least one of maxConnections, maxPendingRequests, maxRequests or maxRetries"
type CircuitBreaker struct {
	// MaxConnections to all endpoints of the service. Default: 1024.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxConnections *int32 `json:"maxConnections,omitempty"`

	// MaxPendingRequests waiting for a connection. Default: 1024.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxPendingRequests *int32 `json:"maxPendingRequests,omitempty"`

	// MaxRequests in flight to the service. Default: 1024.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxRequests *int32 `json:"maxRequests,omitempty"`

	// MaxRetries in flight to the service. Default: 3.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxRetries *int32 `json:"maxRetries,omitempty"`
}

// TrafficPolicy sets load balancing, timeouts, retries, circuit breaking and
// outlier detection for Services, attached with targetRefs (Gateway API
// policy attachment).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=plexus,shortName=tp
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.ancestors[0].conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TrafficPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TrafficPolicySpec `json:"spec"`

	// Status follows Gateway API policy status: one entry per targeted
	// Service, with Accepted and, when another policy sets the same field,
	// Conflicted conditions.
	//
	// +optional
	Status gwapiv1.PolicyStatus `json:"status,omitempty"`
}

// TrafficPolicyList is a list of TrafficPolicy.
//
// +kubebuilder:object:root=true
type TrafficPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficPolicy `json:"items"`
}
