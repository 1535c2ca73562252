package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
)

// managedBy labels what the operator creates.
var managedBy = map[string]string{"app.kubernetes.io/managed-by": "plexus-operator"}

// CARootReconciler publishes the mesh CA's roots as the ConfigMap
// plexus-ca-root in every namespace whose pods get sidecars, and in the
// operator's own, where the east-west gateway runs: proxies verify the
// control plane (certificate service and xDS) with it. Roots are public;
// the CA's key never leaves the operator's namespace.
type CARootReconciler struct {
	client.Client
	// Roots returns the PEM roots of the CA in effect; nil before there
	// is one.
	Roots func() []byte
	// OwnNamespace is the operator's; it gets the roots while a Mesh is
	// in effect.
	OwnNamespace string
	// Injection is whether pods get sidecars; without it only
	// OwnNamespace gets the roots.
	Injection bool
	// ExcludeNamespaces never get sidecars.
	ExcludeNamespaces []string
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// Reconcile keeps one namespace's ConfigMap in step.
func (r *CARootReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: req.Name}, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.Injection && ns.Name != r.OwnNamespace {
		// Injection is off: pods injected before may still read the
		// roots, so they stay as they are.
		return ctrl.Result{}, nil
	}
	injected, err := r.injected(ctx, ns)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !injected || !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.removeOurs(ctx, ns.Name)
	}
	roots := r.Roots()
	if len(roots) == 0 {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil // the CA appears with the Mesh
	}
	cm := corev1ac.ConfigMap(inject.CARootConfigMap, ns.Name).WithLabels(managedBy).
		WithData(map[string]string{inject.CARootKey: string(roots)})
	if err := r.Apply(ctx, cm, fieldOwner, client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying ConfigMap %s/%s: %w", ns.Name, inject.CARootConfigMap, err)
	}
	// Roots change only when the CA rotates; look again now and then.
	return ctrl.Result{RequeueAfter: 5 * time.Minute}, nil
}

// injected reports whether ns runs proxies of the Mesh in effect: its
// pods get sidecars, or it is the operator's, with the gateway.
func (r *CARootReconciler) injected(ctx context.Context, ns *corev1.Namespace) (bool, error) {
	own := ns.Name == r.OwnNamespace && r.OwnNamespace != ""
	if !own && slices.Contains(r.ExcludeNamespaces, ns.Name) {
		return false, nil
	}
	var meshes meshv1.MeshList
	if err := r.List(ctx, &meshes); err != nil {
		return false, err
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil {
		return false, nil
	}
	if own {
		return true, nil
	}
	sel := labels.SelectorFromSet(labels.Set{inject.AnnotationInject: "enabled"})
	if inj := mesh.Spec.Injection; inj != nil && inj.NamespaceSelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(inj.NamespaceSelector); err != nil {
			return false, reconcile.TerminalError(fmt.Errorf("the namespaceSelector of Mesh %s: %w", mesh.Name, err))
		}
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

func (r *CARootReconciler) removeOurs(ctx context.Context, namespace string) error {
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: inject.CARootConfigMap}, cm)
	if apierrors.IsNotFound(err) || (err == nil && cm.Labels["app.kubernetes.io/managed-by"] != managedBy["app.kubernetes.io/managed-by"]) {
		return nil
	}
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(r.Delete(ctx, cm))
}

// SetupWithManager reconciles each namespace, all of them when a Mesh
// changes, and a namespace whose ConfigMap someone edited.
func (r *CARootReconciler) SetupWithManager(mgr ctrl.Manager) error {
	allNamespaces := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list corev1.NamespaceList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, ns := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: ns.Name}})
		}
		return out
	})
	itsNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("ca-root").
		For(&corev1.Namespace{}).
		Watches(&meshv1.Mesh{}, allNamespaces).
		Watches(&corev1.ConfigMap{}, itsNamespace, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == inject.CARootConfigMap
		}))).
		Complete(r)
}
