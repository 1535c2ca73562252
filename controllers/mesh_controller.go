package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

// MeshReconciler validates Mesh resources and reports their conditions,
// and, with Proxies set, how many proxies are connected and whether they
// accepted their configuration.
type MeshReconciler struct {
	Client  client.Client
	Proxies ProxyStatus
}

// proxyRefresh is how often proxy counts and refusals are brought into
// the status.
const proxyRefresh = 15 * time.Second

// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshes/status,verbs=get;update;patch

// Reconcile brings one Mesh's status up to date.
func (r *MeshReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var mesh meshv1.Mesh
	if err := r.Client.Get(ctx, req.NamespacedName, &mesh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var all meshv1.MeshList
	if err := r.Client.List(ctx, &all); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing meshes: %w", err)
	}

	status := mesh.Status.DeepCopy()
	status.ObservedGeneration = mesh.Generation
	meta.SetStatusCondition(&status.Conditions, meshReadiness(&mesh, all.Items))
	var result ctrl.Result
	if r.Proxies != nil {
		status.ConnectedProxies = int32(len(r.Proxies.Connected()))
		meta.SetStatusCondition(&status.Conditions, configAccepted(mesh.Generation, r.Proxies.NACKs()))
		result.RequeueAfter = proxyRefresh
	}
	if equality.Semantic.DeepEqual(*status, mesh.Status) {
		return result, nil
	}
	patch := client.MergeFromWithOptions(mesh.DeepCopy(), client.MergeFromWithOptimisticLock{})
	mesh.Status = *status
	if err := r.Client.Status().Patch(ctx, &mesh, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating status of Mesh %s: %w", mesh.Name, err)
	}
	return result, nil
}

// SetupWithManager registers the reconciler. Any Mesh change enqueues every
// Mesh, because which one is in effect depends on all of them.
func (r *MeshReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("mesh").
		Watches(&meshv1.Mesh{}, handler.EnqueueRequestsFromMapFunc(r.allMeshes)).
		Complete(r)
}

func (r *MeshReconciler) allMeshes(ctx context.Context, _ client.Object) []reconcile.Request {
	var all meshv1.MeshList
	if err := r.Client.List(ctx, &all); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing meshes to re-evaluate after a Mesh changed")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(all.Items))
	for _, m := range all.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: m.Name}})
	}
	return reqs
}
