// Package v1alpha1 holds the Plexus API (group mesh.plexus.dev): Mesh,
// TrafficPolicy, AuthorizationPolicy and MeshPeer. The types carry the
// OpenAPI bounds, defaults and CEL rules that the API server enforces, so an
// invalid object is refused at admission with a message saying what to fix.
//
// Durations use the Gateway API format (GEP-2257, gwapiv1.Duration): one to
// four groups of up to five digits followed by h, m, s or ms, such as "1h30m"
// or "250ms". HTTPRoute timeouts use the same format, so one syntax works
// across every resource a mesh user writes.
//
// +kubebuilder:object:generate=true
// +groupName=mesh.plexus.dev
package v1alpha1
