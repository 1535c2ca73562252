package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

// deleteOurs deletes obj if it exists and the operator made it (it
// carries managedBy); objects of the same name made by others are left
// alone.
func deleteOurs(ctx context.Context, c client.Client, obj client.Object) error {
	existing := obj.DeepCopyObject().(client.Object)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return client.IgnoreNotFound(err)
	}
	for k, v := range managedBy {
		if existing.GetLabels()[k] != v {
			return nil
		}
	}
	return client.IgnoreNotFound(c.Delete(ctx, existing))
}

// setMeshCondition sets one condition of a Mesh's status when it changed,
// with optimistic locking: the Mesh controller writes the same status, and
// a conflict (apierrors.IsConflict) means "read again".
func setMeshCondition(ctx context.Context, c client.Client, mesh *meshv1.Mesh, cond metav1.Condition) error {
	if old := meta.FindStatusCondition(mesh.Status.Conditions, cond.Type); old != nil &&
		old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message && old.ObservedGeneration == cond.ObservedGeneration {
		return nil
	}
	patch := client.MergeFromWithOptions(mesh.DeepCopy(), client.MergeFromWithOptimisticLock{})
	meta.SetStatusCondition(&mesh.Status.Conditions, cond)
	if err := c.Status().Patch(ctx, mesh, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("updating the %s condition of Mesh %s: %w", cond.Type, mesh.Name, err)
	}
	return nil
}
