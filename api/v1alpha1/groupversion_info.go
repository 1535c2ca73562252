package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the Plexus API.
	GroupVersion = schema.GroupVersion{Group: "mesh.plexus.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Plexus types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Plexus types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
