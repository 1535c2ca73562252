package controllers

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

// meshReadiness decides the Ready condition of one Mesh given every Mesh in
// the cluster. A cluster has one mesh: the oldest Mesh (by creation time,
// then name) is in effect and any other is reported as a duplicate. It is a
// pure function so the decision is tested without an API server.
func meshReadiness(mesh *meshv1.Mesh, all []meshv1.Mesh) metav1.Condition {
	cond := metav1.Condition{Type: meshv1.ConditionReady, ObservedGeneration: mesh.Generation}
	if winner := effectiveMesh(all); winner != nil && winner.Name != mesh.Name {
		cond.Status = metav1.ConditionFalse
		cond.Reason = meshv1.ReasonDuplicateMesh
		cond.Message = fmt.Sprintf("Mesh %q is older and is this cluster's mesh; a cluster has exactly one Mesh: delete %q or merge its settings into %q",
			winner.Name, mesh.Name, winner.Name)
		return cond
	}
	spec := mesh.Spec.DeepCopy()
	spec.Default()
	if errs := spec.Validate(); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		cond.Status = metav1.ConditionFalse
		cond.Reason = meshv1.ReasonInvalidSpec
		cond.Message = strings.Join(msgs, "; ")
		return cond
	}
	cond.Status = metav1.ConditionTrue
	cond.Reason = meshv1.ReasonValid
	cond.Message = fmt.Sprintf("cluster %q, trust domain %q, mTLS %s", spec.ClusterName, spec.TrustDomain, spec.MTLS.Mode)
	return cond
}

// effectiveMesh returns the Mesh in effect: the oldest one not being
// deleted, ties broken by name. It returns nil when there is none.
func effectiveMesh(all []meshv1.Mesh) *meshv1.Mesh {
	live := make([]*meshv1.Mesh, 0, len(all))
	for i := range all {
		if all[i].DeletionTimestamp.IsZero() {
			live = append(live, &all[i])
		}
	}
	if len(live) == 0 {
		return nil
	}
	sort.Slice(live, func(i, j int) bool {
		ti, tj := live[i].CreationTimestamp, live[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return live[i].Name < live[j].Name
	})
	return live[0]
}
