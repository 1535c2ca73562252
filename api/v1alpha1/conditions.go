package v1alpha1

// Condition types reported in the status of Plexus resources.
const (
	// ConditionReady is True when the resource is valid and in effect.
	ConditionReady = "Ready"
	// ConditionCAReady is True when the Mesh's certificate authority can
	// issue workload certificates.
	ConditionCAReady = "CAReady"
	// ConditionObservabilityReady is True when the monitoring objects the
	// Mesh asks for are installed.
	ConditionObservabilityReady = "ObservabilityReady"
	// ConditionFederationReady is True when the east-west gateway and the
	// federation API are serving.
	ConditionFederationReady = "FederationReady"
	// ConditionAccepted is True when a policy is valid and applied.
	ConditionAccepted = "Accepted"
	// ConditionResolvedRefs is True when every object a policy refers to
	// exists.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionConnected is True when a MeshPeer's federation stream is up.
	ConditionConnected = "Connected"
	// ConditionTrustBundleSynced is True when a MeshPeer's trust bundle is
	// current.
	ConditionTrustBundleSynced = "TrustBundleSynced"
	// ConditionConfigAccepted is True when every connected proxy accepted
	// the configuration it was sent; False lists the proxies that refused
	// it and why.
	ConditionConfigAccepted = "ConfigAccepted"
)

// Condition reasons.
const (
	// ReasonValid means the spec passed every check.
	ReasonValid = "Valid"
	// ReasonInvalidSpec means the spec has a problem the API server's
	// schema cannot catch; the message says what to fix.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonDuplicateMesh means another Mesh in the cluster is older and
	// is the one in effect.
	ReasonDuplicateMesh = "DuplicateMesh"
	// ReasonAllAccepted means no connected proxy refused its configuration.
	ReasonAllAccepted = "AllAccepted"
	// ReasonRejected means at least one proxy refused its configuration.
	ReasonRejected = "Rejected"
)
