// Package kube builds the mesh model from Kubernetes objects: Services,
// EndpointSlices and Pods. It is pure (objects in, model out, no API calls),
// so the Kubernetes provider stays a thin reconciler and the conversion is
// tested without a cluster.
package kube
