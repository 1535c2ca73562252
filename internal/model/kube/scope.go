package kube

import (
	"github.com/plexus-mesh/plexus/internal/model"
)

// Annotations that scope what proxies receive.
const (
	// AnnotationExportTo on a Service lists the namespaces whose proxies
	// see it: "*" (the default), "." (its own only) or namespace names.
	AnnotationExportTo = "mesh.plexus.dev/export-to"
	// AnnotationEgress on a pod lists the services its proxy receives, as
	// NAMESPACE/SERVICE patterns ("./*,billing/payments"); unset, every
	// service visible from its namespace.
	AnnotationEgress = "mesh.plexus.dev/egress"
	// AnnotationMTLSMode on a pod overrides the mTLS mode for its
	// workload: STRICT or PERMISSIVE.
	AnnotationMTLSMode = "mesh.plexus.dev/mtls-mode"
	// AnnotationRotateRoot on the Mesh requests a CA root rotation: each
	// new value (a date, a ticket number) starts one.
	AnnotationRotateRoot = "mesh.plexus.dev/rotate-root"
)

// exportTo reads a Service's export-to annotation. A value that does not
// parse exports the service to its own namespace only: visibility fails
// closed, and ServiceProblems reports why.
func exportTo(annotations map[string]string, namespace string) []string {
	v, ok := annotations[AnnotationExportTo]
	if !ok {
		return nil
	}
	out, err := model.ParseExportTo(v, namespace)
	if err != nil {
		return []string{namespace}
	}
	return out
}

// egress reads a pod's egress annotation; the injector refuses pods whose
// annotation does not parse, so one that slipped through is ignored.
func egress(annotations map[string]string, namespace string) []model.EgressRule {
	rules, err := model.ParseEgress(annotations[AnnotationEgress], namespace)
	if err != nil {
		return nil
	}
	return rules
}
