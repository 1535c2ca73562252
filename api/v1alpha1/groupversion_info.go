package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the Plexus API.
	GroupVersion = schema.GroupVersion{Group: "mesh.plexus.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Plexus types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the Plexus types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Mesh{}, &MeshList{},
		&TrafficPolicy{}, &TrafficPolicyList{},
		&AuthorizationPolicy{}, &AuthorizationPolicyList{},
		&MeshPeer{}, &MeshPeerList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
