// Package inject owns sidecar injection: how a pod is changed to carry the
// proxy and its init container, the annotations that tune it, and the
// admission webhook handler that applies it.
package inject
