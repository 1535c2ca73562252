package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MeshPeerSpec declares another cluster's mesh to federate with: where its
// federation API and east-west gateways are, and how to trust it.
//
// +kubebuilder:validation:XValidation:rule="!has(self.trustBundle.endpointSPIFFEID) || self.trustBundle.endpointSPIFFEID.startsWith('spiffe://' + self.trustDomain + '/')",message="trustBundle.endpointSPIFFEID must be an identity in the peer's trustDomain (spiffe://<trustDomain>/...)"
// +kubebuilder:validation:XValidation:rule="!has(self.operatorSPIFFEID) || self.operatorSPIFFEID.startsWith('spiffe://' + self.trustDomain + '/')",message="operatorSPIFFEID must be an identity in the peer's trustDomain (spiffe://<trustDomain>/...)"
// +kubebuilder:validation:XValidation:rule="has(self.trustBundle.endpointURL) == has(self.trustBundle.endpointSPIFFEID)",message="trustBundle.endpointURL and trustBundle.endpointSPIFFEID go together: the https_spiffe profile authenticates the endpoint by its SPIFFE ID"
type MeshPeerSpec struct {
	// ClusterName is the peer's Mesh spec.clusterName. It cannot change.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clusterName cannot be changed: delete this MeshPeer and create a new one"
	// +required
	ClusterName ClusterName `json:"clusterName"`

	// TrustDomain is the peer's SPIFFE trust domain. It cannot change.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="trustDomain cannot be changed: delete this MeshPeer and create a new one"
	// +required
	TrustDomain TrustDomain `json:"trustDomain"`

	// FederationEndpoint is the peer's federation API, "host:port",
	// usually its east-west gateway.
	//
	// +required
	FederationEndpoint HostPort `json:"federationEndpoint"`

	// OperatorSPIFFEID is the identity of the peer's operator: the only
	// identity of its trust domain that may watch this cluster's exports,
	// and the one its federation API must present. Default:
	// spiffe://<trustDomain>/ns/plexus-system/sa/plexus-operator. Set it
	// when the peer's operator runs in another namespace.
	//
	// +optional
	OperatorSPIFFEID SPIFFEID `json:"operatorSPIFFEID,omitempty"`

	// GatewayAddresses are the peer's east-west gateway addresses
	// ("ip:port", such as its gateway Service's load balancer address) that
	// sidecars here send cross-cluster traffic to. Sidecars dial them
	// without DNS, so they are IP addresses.
	//
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +required
	GatewayAddresses []IPPort `json:"gatewayAddresses"`

	// TrustBundle says how to obtain and refresh the peer's trust bundle.
	//
	// +required
	TrustBundle PeerTrustBundle `json:"trustBundle"`

	// ImportStaleness is how long imports from an unreachable peer are kept
	// before they are withdrawn. Default: 10m.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('168h')",message="importStaleness must be between 30s and 168h (7 days)"
	// +kubebuilder:default="10m"
	// +optional
	ImportStaleness gwapiv1.Duration `json:"importStaleness,omitempty"`
}

// PeerTrustBundle bootstraps and refreshes trust in a peer's trust domain
// with SPIFFE federation.
type PeerTrustBundle struct {
	// SecretRef names the Secret holding the peer's initial trust bundle.
	//
	// +required
	SecretRef BundleSecretReference `json:"secretRef"`

	// EndpointURL is the peer's SPIFFE bundle endpoint (https_spiffe
	// profile), for example "https://west-gw.example:15443/bundle". Unset:
	// the bundle is refreshed over the federation API instead.
	//
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^\s/?#]+(/[^\s]*)?$`
	// +optional
	EndpointURL string `json:"endpointURL,omitempty"`

	// EndpointSPIFFEID is the bundle endpoint server's SPIFFE ID.
	//
	// +optional
	EndpointSPIFFEID SPIFFEID `json:"endpointSPIFFEID,omitempty"`

	// RefreshInterval is how often the bundle is fetched again. The peer's
	// refresh hint, when shorter, wins. Default: 5m.
	//
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="refreshInterval must be between 30s and 24h"
	// +kubebuilder:default="5m"
	// +optional
	RefreshInterval gwapiv1.Duration `json:"refreshInterval,omitempty"`
}

// BundleSecretReference names the key of a Secret that holds a trust bundle,
// as PEM certificates or a SPIFFE bundle (JWKS).
type BundleSecretReference struct {
	SecretReference `json:",inline"`

	// Key in the Secret's data. Default: "bundle.pem".
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:default="bundle.pem"
	// +optional
	Key string `json:"key,omitempty"`
}

// MeshPeerStatus is the observed state of the federation with one peer.
type MeshPeerStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Connected (the federation stream is up), TrustBundleSynced
	// and Ready.
	//
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastSyncTime is when exports were last received from the peer.
	//
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// LastBundleRefreshTime is when the peer's trust bundle was last fetched.
	//
	// +optional
	LastBundleRefreshTime *metav1.Time `json:"lastBundleRefreshTime,omitempty"`

	// ImportedServices is the number of the peer's exports imported here.
	//
	// +optional
	ImportedServices int32 `json:"importedServices,omitempty"`
}

// MeshPeer federates this cluster's mesh with another cluster's: services
// each side exports become reachable from the other, with mTLS end to end
// across the two trust domains.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=plexus
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Trust Domain",type=string,JSONPath=`.spec.trustDomain`
// +kubebuilder:printcolumn:name="Connected",type=string,JSONPath=`.status.conditions[?(@.type=="Connected")].status`
// +kubebuilder:printcolumn:name="Imported",type=integer,JSONPath=`.status.importedServices`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MeshPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec MeshPeerSpec `json:"spec"`

	// +optional
	Status MeshPeerStatus `json:"status,omitempty"`
}

// MeshPeerList is a list of MeshPeer.
//
// +kubebuilder:object:root=true
type MeshPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MeshPeer `json:"items"`
}
