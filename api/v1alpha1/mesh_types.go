package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MeshSpec is the desired state of the mesh in one cluster.
type MeshSpec struct {
	// ClusterName identifies this cluster among federated meshes. It is used
	// in metric labels, SNI names and DNS names, and cannot change.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clusterName cannot be changed: it is part of every metric, SNI name and peer's import; create a new Mesh instead"
	// +required
	ClusterName ClusterName `json:"clusterName"`

	// Network names the network this cluster's endpoints are reachable on.
	// Endpoints in another network are reached through that network's
	// east-west gateway. Default: "default".
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:default=default
	// +optional
	Network string `json:"network,omitempty"`

	// TrustDomain is the SPIFFE trust domain of every workload identity in
	// this cluster, for example "east.example". It cannot change.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="trustDomain cannot be changed: every workload identity is derived from it; create a new Mesh and migrate workloads instead"
	// +required
	TrustDomain TrustDomain `json:"trustDomain"`

	// MTLS sets how sidecars treat plaintext traffic. Default: STRICT.
	//
	// +kubebuilder:default={}
	// +optional
	MTLS *MTLS `json:"mtls,omitempty"`

	// Identity chooses who issues workload certificates. Default: the
	// operator's built-in CA.
	//
	// +kubebuilder:default={builtin:{}}
	// +optional
	Identity *Identity `json:"identity,omitempty"`

	// Traffic holds the defaults every service gets unless a route or a
	// TrafficPolicy overrides them.
	//
	// +kubebuilder:default={}
	// +optional
	Traffic *TrafficDefaults `json:"traffic,omitempty"`

	// Injection controls which pods receive a sidecar and how it is sized.
	//
	// +kubebuilder:default={}
	// +optional
	Injection *Injection `json:"injection,omitempty"`

	// Observability controls the monitoring objects the operator installs.
	//
	// +kubebuilder:default={}
	// +optional
	Observability *Observability `json:"observability,omitempty"`

	// Federation controls how this cluster joins others.
	//
	// +kubebuilder:default={}
	// +optional
	Federation *Federation `json:"federation,omitempty"`
}

// MTLSMode is how a sidecar treats inbound plaintext.
//
// +kubebuilder:validation:Enum=STRICT;PERMISSIVE
type MTLSMode string

const (
	// MTLSStrict refuses inbound plaintext: only mesh mTLS is accepted.
	MTLSStrict MTLSMode = "STRICT"
	// MTLSPermissive accepts both mTLS and plaintext, and counts plaintext so
	// you can see when it is safe to switch to STRICT.
	MTLSPermissive MTLSMode = "PERMISSIVE"
)

// MTLS configures mutual TLS between sidecars.
type MTLS struct {
	// Mode applies to every namespace without an override. Default: STRICT.
	//
	// +kubebuilder:default=STRICT
	// +optional
	Mode MTLSMode `json:"mode,omitempty"`

	// Namespaces overrides the mode for individual namespaces, for example
	// PERMISSIVE while a legacy namespace migrates into the mesh.
	//
	// +listType=map
	// +listMapKey=namespace
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Namespaces []NamespaceMTLS `json:"namespaces,omitempty"`
}

// NamespaceMTLS overrides the mTLS mode of one namespace.
type NamespaceMTLS struct {
	// Namespace whose mode is overridden.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Namespace string `json:"namespace"`

	// Mode for workloads in this namespace.
	//
	// +required
	Mode MTLSMode `json:"mode"`
}

// Identity selects the source of workload certificates: exactly one of
// builtin or spire.
//
// +kubebuilder:validation:XValidation:rule="has(self.builtin) != has(self.spire)",message="set exactly one of identity.builtin (the operator's CA) or identity.spire (a SPIRE agent socket)"
type Identity struct {
	// Builtin uses the operator's certificate authority.
	//
	// +optional
	Builtin *BuiltinCA `json:"builtin,omitempty"`

	// SPIRE makes proxies take their certificates and trust bundles from a
	// SPIRE agent through the SPIFFE Workload API.
	//
	// +optional
	SPIRE *SPIREIdentity `json:"spire,omitempty"`
}

// BuiltinCA configures the operator's certificate authority.
type BuiltinCA struct {
	// CertificateTTL is the lifetime of workload certificates; proxies renew
	// at half of it. Default: 24h.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('720h')",message="certificateTTL must be between 1h and 720h (30 days)"
	// +kubebuilder:default="24h"
	// +optional
	CertificateTTL gwapiv1.Duration `json:"certificateTTL,omitempty"`

	// RootCASecretRef names a kubernetes.io/tls Secret holding a root
	// certificate and key (tls.crt, tls.key), for example from cert-manager
	// or Vault. The operator then issues from an intermediate signed by it.
	// Unset: the operator creates and keeps its own self-signed root.
	//
	// +optional
	RootCASecretRef *SecretReference `json:"rootCASecretRef,omitempty"`
}

// SPIREIdentity points proxies at a SPIRE agent.
type SPIREIdentity struct {
	// WorkloadAPISocket is the agent's Workload API address as seen inside
	// the pod, for example "unix:///run/spire/agent-sockets/spire-agent.sock".
	//
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^unix:///[^\x00]+$`
	// +required
	WorkloadAPISocket string `json:"workloadAPISocket"`
}

// TrafficDefaults are the mesh-wide resilience settings. A TrafficPolicy on a
// service overrides them field by field, and route settings override both.
//
// +kubebuilder:validation:XValidation:rule="!has(self.retries) || !has(self.retries.perTryTimeout) || !has(self.requestTimeout) || duration(self.requestTimeout) == duration('0s') || duration(self.retries.perTryTimeout) <= duration(self.requestTimeout)",message="traffic.retries.perTryTimeout must not be longer than traffic.requestTimeout: lower perTryTimeout or raise requestTimeout"
type TrafficDefaults struct {
	// LoadBalancer is the default balancing algorithm. Default: RoundRobin.
	//
	// +kubebuilder:default={}
	// +optional
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`

	// ConnectTimeout bounds establishing a connection to an endpoint.
	// Default: 5s.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('5m')",message="connectTimeout must be between 1ms and 5m"
	// +kubebuilder:default="5s"
	// +optional
	ConnectTimeout gwapiv1.Duration `json:"connectTimeout,omitempty"`

	// RequestTimeout bounds a whole request, retries included. Unset or "0s":
	// no limit, which streaming and long-polling APIs need.
	//
	// +optional
	RequestTimeout *gwapiv1.Duration `json:"requestTimeout,omitempty"`

	// Retries are the default retry settings. Default: 2 retries of
	// connection failures, refused streams and gRPC UNAVAILABLE, within a
	// 20% budget.
	//
	// +kubebuilder:default={attempts:2,retryOn:{"connect-failure","refused-stream","unavailable"},budget:{}}
	// +optional
	Retries *Retries `json:"retries,omitempty"`

	// OutlierDetection is the default ejection of failing endpoints.
	// Default: eject after 5 consecutive 5xx, checked every 10s, for 30s and
	// up, at most half of a service's endpoints.
	//
	// +kubebuilder:default={consecutive5xxErrors:5,interval:"10s",baseEjectionTime:"30s",maxEjectionPercent:50}
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}

// Injection controls sidecar injection.
type Injection struct {
	// NamespaceSelector picks the namespaces whose pods get a sidecar.
	// Default: namespaces labelled mesh.plexus.dev/inject=enabled. A pod opts
	// out with the annotation mesh.plexus.dev/inject: "false".
	//
	// +kubebuilder:default={matchLabels:{"mesh.plexus.dev/inject":"enabled"}}
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ProxyImage is the sidecar image. Unset: the image the operator was
	// released with.
	//
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	// +optional
	ProxyImage string `json:"proxyImage,omitempty"`

	// Resources of the injected sidecar container. Unset: requests of 10m CPU
	// and 32Mi memory, and a 256Mi memory limit.
	//
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// Observability controls the monitoring objects the operator installs.
type Observability struct {
	// ServiceMonitor makes a prometheus-operator Prometheus scrape the
	// operator and every sidecar.
	//
	// +kubebuilder:default={}
	// +optional
	ServiceMonitor *ServiceMonitorConfig `json:"serviceMonitor,omitempty"`

	// PrometheusRule installs recording rules and alerts.
	//
	// +kubebuilder:default={}
	// +optional
	PrometheusRule *PrometheusRuleConfig `json:"prometheusRule,omitempty"`

	// Grafana installs dashboards as ConfigMaps for the Grafana sidecar.
	//
	// +kubebuilder:default={}
	// +optional
	Grafana *GrafanaConfig `json:"grafana,omitempty"`
}

// ServiceMonitorConfig configures the scrape objects.
type ServiceMonitorConfig struct {
	// Enabled turns the ServiceMonitor and PodMonitor on. Default: true.
	//
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Labels are added to the ServiceMonitor and PodMonitor so that your
	// Prometheus's serviceMonitorSelector and podMonitorSelector pick them.
	//
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Interval between scrapes, at most a minute: the fastest SLO alert
	// looks at the last 5 minutes and needs several samples in them.
	// Default: 30s.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s') && duration(self) <= duration('1m')",message="scrape interval must be between 5s and 1m: the 5-minute window of the fastest SLO alert needs several samples"
	// +kubebuilder:default="30s"
	// +optional
	Interval gwapiv1.Duration `json:"interval,omitempty"`
}

// PrometheusRuleConfig configures recording rules and alerts.
type PrometheusRuleConfig struct {
	// Enabled turns the PrometheusRule on. Default: true.
	//
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Labels are added to the PrometheusRule so that your Prometheus's
	// ruleSelector picks it.
	//
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// AlertLabels are added to every alert, for Alertmanager to route on
	// (for example team: platform).
	//
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	AlertLabels map[string]string `json:"alertLabels,omitempty"`

	// SLO sets the default service level objectives behind the burn-rate
	// alerts. A Service overrides them with the annotations
	// mesh.plexus.dev/slo-availability and mesh.plexus.dev/slo-latency
	// (percentages, such as "99.95").
	//
	// +kubebuilder:default={}
	// +optional
	SLO *SLO `json:"slo,omitempty"`
}

// SLO is a pair of service level objectives over a 30 day window.
type SLO struct {
	// Availability is the percentage of requests that must succeed (not 5xx,
	// not a gRPC server error), for example "99.9". Default: "99.9".
	//
	// +kubebuilder:validation:Pattern=`^[0-9]{1,2}(\.[0-9]{1,4})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= 50.0",message="availability must be a percentage between 50 and 99.9999, such as \"99.9\""
	// +kubebuilder:default="99.9"
	// +optional
	Availability string `json:"availability,omitempty"`

	// LatencyThreshold is the duration a request must finish within to count
	// as fast. It must be a bound of the request duration histogram (1ms,
	// 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2500ms, 5s, 10s, 30s
	// or 60s), because the ratio of fast requests is read from that
	// bucket. Default: 500ms.
	//
	// +kubebuilder:validation:XValidation:rule="[duration('1ms'), duration('5ms'), duration('10ms'), duration('25ms'), duration('50ms'), duration('100ms'), duration('250ms'), duration('500ms'), duration('1s'), duration('2500ms'), duration('5s'), duration('10s'), duration('30s'), duration('60s')].exists(d, d == duration(self))",message="latencyThreshold must be a bound of the request duration histogram: 1ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2500ms, 5s, 10s, 30s or 60s"
	// +kubebuilder:default="500ms"
	// +optional
	LatencyThreshold gwapiv1.Duration `json:"latencyThreshold,omitempty"`

	// Latency is the percentage of requests that must finish within
	// latencyThreshold. Default: "99".
	//
	// +kubebuilder:validation:Pattern=`^[0-9]{1,2}(\.[0-9]{1,4})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= 50.0",message="latency must be a percentage between 50 and 99.9999, such as \"99\""
	// +kubebuilder:default="99"
	// +optional
	Latency string `json:"latency,omitempty"`
}

// GrafanaConfig configures dashboard ConfigMaps.
type GrafanaConfig struct {
	// Enabled turns the dashboards on. Default: true.
	//
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Namespace the dashboard ConfigMaps are created in, where the Grafana
	// sidecar looks. Unset: the operator's namespace.
	//
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// LabelKey and LabelValue are put on each ConfigMap for the Grafana
	// sidecar's label selector. Default: grafana_dashboard: "1".
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:default=grafana_dashboard
	// +optional
	LabelKey string `json:"labelKey,omitempty"`

	// LabelValue is the value of LabelKey. Default: "1".
	//
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:default="1"
	// +optional
	LabelValue string `json:"labelValue,omitempty"`
}

// Federation controls the east-west gateway that peers reach this cluster
// through.
type Federation struct {
	// EastWestGateway runs the gateway that carries mTLS traffic and the
	// federation API between clusters.
	//
	// +kubebuilder:default={}
	// +optional
	EastWestGateway *EastWestGateway `json:"eastWestGateway,omitempty"`
}

// GatewayServiceType is how the east-west gateway is exposed.
//
// +kubebuilder:validation:Enum=LoadBalancer;NodePort;ClusterIP
type GatewayServiceType string

// EastWestGateway configures the east-west gateway.
type EastWestGateway struct {
	// Enabled runs the gateway. Default: false.
	//
	// +kubebuilder:default=false
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Port the gateway listens on for peers. Default: 15443.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=15443
	// +optional
	Port int32 `json:"port,omitempty"`

	// ServiceType of the gateway's Service. Default: LoadBalancer.
	//
	// +kubebuilder:default=LoadBalancer
	// +optional
	ServiceType GatewayServiceType `json:"serviceType,omitempty"`

	// Replicas of the gateway Deployment. Default: 2.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	// +kubebuilder:default=2
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
}

// MeshStatus is the observed state of the mesh.
type MeshStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, CAReady, ObservabilityReady, FederationReady.
	//
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ConnectedProxies is the number of proxies holding an xDS stream to the
	// control plane.
	//
	// +optional
	ConnectedProxies int32 `json:"connectedProxies,omitempty"`
}

// Mesh is the mesh in one cluster: its name among peers, its trust domain,
// and the defaults every workload gets. Create one per cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=plexus
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Trust Domain",type=string,JSONPath=`.spec.trustDomain`
// +kubebuilder:printcolumn:name="mTLS",type=string,JSONPath=`.spec.mtls.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Proxies",type=integer,JSONPath=`.status.connectedProxies`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Mesh struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec MeshSpec `json:"spec"`

	// +optional
	Status MeshStatus `json:"status,omitempty"`
}

// MeshList is a list of Mesh.
//
// +kubebuilder:object:root=true
type MeshList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Mesh `json:"items"`
}
