package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/monitoring"
)

// Reasons of the ObservabilityReady condition.
const (
	ReasonInstalled                 = "Installed"
	ReasonDisabled                  = "Disabled"
	ReasonPrometheusOperatorMissing = "PrometheusOperatorMissing"
	ReasonInvalidObjective          = "InvalidObjective"
	ReasonApplyFailed               = "ApplyFailed"
)

// LabelDashboard marks the dashboard ConfigMaps, so that ones no longer
// wanted (Grafana turned off, or moved to another namespace) are found and
// removed.
const LabelDashboard = "mesh.plexus.dev/dashboard"

const (
	// monitoringResync re-applies everything now and then, which also
	// repairs edits made while a kind was not watched.
	monitoringResync = 10 * time.Minute
	// crdRetry is how often the operator looks for the prometheus-operator
	// CRDs while they are missing.
	crdRetry = time.Minute
)

// MonitoringReconciler installs the monitoring of the Mesh in effect: a
// ServiceMonitor and PodMonitor, a PrometheusRule and Grafana dashboard
// ConfigMaps (internal/monitoring), applied server-side and owned by the
// Mesh. Without the prometheus-operator CRDs it installs the dashboards,
// reports ObservabilityReady=False saying why, and looks again every
// minute; once they appear it watches its objects and repairs edits.
type MonitoringReconciler struct {
	Client client.Client
	// Namespace of the operator, where the scrape objects and rules live.
	Namespace string
	Mapper    meta.RESTMapper
	Cache     cache.Cache
	// Metrics is how the operator serves its metrics, for the
	// ServiceMonitor.
	Metrics monitoring.MetricsServing
	// CRDRetry is how often to look for the prometheus-operator CRDs while
	// they are missing. Zero: a minute.
	CRDRetry time.Duration

	controller controller.Controller
	mu         sync.Mutex
	watching   map[string]bool
}

// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;podmonitors;prometheusrules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshes,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=meshes/finalizers,verbs=update

// Reconcile brings the monitoring objects of the Mesh in effect up to date.
func (r *MonitoringReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var meshes meshv1.MeshList
	if err := r.Client.List(ctx, &meshes); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing meshes: %w", err)
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil || mesh.Name != req.Name {
		return ctrl.Result{}, nil
	}
	var services corev1.ServiceList
	if err := r.Client.List(ctx, &services); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing services for their objectives: %w", err)
	}
	opts, objectiveErr := monitoring.FromMesh(mesh, r.Namespace, r.Metrics, services.Items)
	spec := mesh.Spec.DeepCopy()
	spec.Default()
	obs := spec.Observability

	owner := metav1.NewControllerRef(mesh, meshv1.GroupVersion.WithKind("Mesh"))
	var installed, missing []string
	var errs []error
	wantMonitors, wantRules := *obs.ServiceMonitor.Enabled, *obs.PrometheusRule.Enabled
	crds := r.prometheusOperatorInstalled()
	if crds {
		if err := r.watchOwned(); err != nil {
			errs = append(errs, err)
		}
		for _, o := range []struct {
			want bool
			obj  client.Object
		}{
			{wantMonitors, monitoring.ServiceMonitor(opts)},
			{wantMonitors, monitoring.PodMonitor(opts)},
			{wantRules, monitoring.PrometheusRule(opts)},
		} {
			what := kindOf(o.obj) + " " + o.obj.GetNamespace() + "/" + o.obj.GetName()
			if o.want {
				if err := r.apply(ctx, o.obj, owner); err != nil {
					errs = append(errs, fmt.Errorf("applying %s: %w", what, err))
					continue
				}
				installed = append(installed, what)
			} else if err := deleteOurs(ctx, r.Client, o.obj); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", what, err))
			}
		}
	} else if wantMonitors || wantRules {
		missing = append(missing, "ServiceMonitor, PodMonitor and PrometheusRule")
	}

	dashboards, err := r.syncDashboards(ctx, opts, *obs.Grafana.Enabled, owner)
	if err != nil {
		errs = append(errs, err)
	} else if dashboards > 0 {
		installed = append(installed, fmt.Sprintf("%d Grafana dashboards in %s", dashboards, opts.DashboardNamespace))
	}

	cond := metav1.Condition{Type: meshv1.ConditionObservabilityReady, ObservedGeneration: mesh.Generation}
	result := ctrl.Result{RequeueAfter: monitoringResync}
	switch {
	case len(errs) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonApplyFailed
		cond.Message = errors.Join(errs...).Error()
	case len(missing) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonPrometheusOperatorMissing
		cond.Message = fmt.Sprintf("the prometheus-operator CRDs (monitoring.coreos.com/v1) are not installed, so no %s could be created: "+
			"install prometheus-operator, or turn spec.observability.serviceMonitor and prometheusRule off; the operator looks again every minute", missing[0])
		if len(installed) > 0 {
			cond.Message += "; installed: " + strings.Join(installed, ", ")
		}
		result.RequeueAfter = r.CRDRetry
		if result.RequeueAfter == 0 {
			result.RequeueAfter = crdRetry
		}
	case objectiveErr != nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidObjective
		cond.Message = "installed, with default objectives in place of these: " + objectiveErr.Error()
	case len(installed) == 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonDisabled
		cond.Message = "spec.observability turns every monitoring object off"
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonInstalled
		cond.Message = "installed: " + strings.Join(installed, ", ")
	}
	if err := setMeshCondition(ctx, r.Client, mesh, cond); err != nil {
		if apierrors.IsConflict(err) {
			// The Mesh controller updated the status meanwhile: not a
			// failure, just look again.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	}
	if len(errs) > 0 {
		return ctrl.Result{}, errors.Join(errs...)
	}
	return result, nil
}

// syncDashboards applies the dashboard ConfigMaps and removes any of ours
// that are no longer wanted. It returns how many are installed.
func (r *MonitoringReconciler) syncDashboards(ctx context.Context, o monitoring.Options, enabled bool, owner *metav1.OwnerReference) (int, error) {
	want := map[types.NamespacedName]bool{}
	if enabled {
		cms, err := monitoring.DashboardConfigMaps(o)
		if err != nil {
			return 0, fmt.Errorf("building dashboards: %w", err)
		}
		for _, cm := range cms {
			cm.Labels[LabelDashboard] = "true"
			if err := r.apply(ctx, cm, owner); err != nil {
				return 0, fmt.Errorf("applying dashboard ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
			}
			want[client.ObjectKeyFromObject(cm)] = true
		}
	}
	var ours corev1.ConfigMapList
	if err := r.Client.List(ctx, &ours, client.MatchingLabels{LabelDashboard: "true", monitoring.LabelManagedBy: monitoring.ManagedBy}); err != nil {
		return 0, fmt.Errorf("listing dashboard ConfigMaps: %w", err)
	}
	for i := range ours.Items {
		if !want[client.ObjectKeyFromObject(&ours.Items[i])] {
			if err := client.IgnoreNotFound(r.Client.Delete(ctx, &ours.Items[i])); err != nil {
				return 0, fmt.Errorf("removing dashboard ConfigMap %s/%s: %w", ours.Items[i].Namespace, ours.Items[i].Name, err)
			}
		}
	}
	return len(want), nil
}

// apply server-side applies obj, owned by the Mesh.
func (r *MonitoringReconciler) apply(ctx context.Context, obj client.Object, owner *metav1.OwnerReference) error {
	obj.SetOwnerReferences([]metav1.OwnerReference{*owner})
	return applyObject(ctx, r.Client, obj)
}

// applyObject server-side applies a typed object (with its TypeMeta set)
// as the operator's field manager; its status is left alone.
func applyObject(ctx context.Context, c client.Client, obj client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "status")
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}), fieldOwner, client.ForceOwnership)
}

var monitoringKinds = []schema.GroupKind{
	{Group: monitoringv1.SchemeGroupVersion.Group, Kind: monitoringv1.ServiceMonitorsKind},
	{Group: monitoringv1.SchemeGroupVersion.Group, Kind: monitoringv1.PodMonitorsKind},
	{Group: monitoringv1.SchemeGroupVersion.Group, Kind: monitoringv1.PrometheusRuleKind},
}

// prometheusOperatorInstalled reports whether the API server serves all
// three kinds. The mapper looks again when it does not know a kind, so
// CRDs installed after the operator started are found.
func (r *MonitoringReconciler) prometheusOperatorInstalled() bool {
	for _, gk := range monitoringKinds {
		if _, err := r.Mapper.RESTMapping(gk, monitoringv1.SchemeGroupVersion.Version); err != nil {
			return false
		}
	}
	return true
}

// watchOwned starts watching the scrape objects and rules once their
// CRDs exist, so edits and deletions by others are undone at once. Each
// kind is watched once; a kind whose watch failed is tried again on the
// next reconcile.
func (r *MonitoringReconciler) watchOwned() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.controller == nil {
		return nil
	}
	if r.watching == nil {
		r.watching = map[string]bool{}
	}
	owned := handler.EnqueueRequestForOwner(r.Client.Scheme(), r.Mapper, &meshv1.Mesh{}, handler.OnlyControllerOwner())
	for _, obj := range []client.Object{&monitoringv1.ServiceMonitor{}, &monitoringv1.PodMonitor{}, &monitoringv1.PrometheusRule{}} {
		kind := fmt.Sprintf("%T", obj)
		if r.watching[kind] {
			continue
		}
		if err := r.controller.Watch(source.Kind(r.Cache, obj, owned)); err != nil {
			return fmt.Errorf("watching %s: %w", kind, err)
		}
		r.watching[kind] = true
	}
	return nil
}

// MonitoringCache limits the operator's cache of ServiceMonitors,
// PodMonitors and PrometheusRules to its own, when prometheus-operator is
// installed as the operator starts (the cache cannot be told about kinds
// the API server does not serve yet; installed later, they are watched
// unfiltered).
func MonitoringCache(mapper meta.RESTMapper) map[client.Object]cache.ByObject {
	for _, gk := range monitoringKinds {
		if _, err := mapper.RESTMapping(gk, monitoringv1.SchemeGroupVersion.Version); err != nil {
			return nil
		}
	}
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{monitoring.LabelManagedBy: monitoring.ManagedBy})}
	return map[client.Object]cache.ByObject{&monitoringv1.ServiceMonitor{}: ours, &monitoringv1.PodMonitor{}: ours, &monitoringv1.PrometheusRule{}: ours}
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)
}

// SetupWithManager registers the reconciler: Mesh changes, objective
// annotations on Services and changes to its dashboard ConfigMaps bring
// the Mesh in effect back in line.
func (r *MonitoringReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toMesh := handler.EnqueueRequestsFromMapFunc(r.meshInEffect)
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("monitoring").
		// Status updates (proxy counts every few seconds) change nothing here.
		Watches(&meshv1.Mesh{}, toMesh, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Service{}, toMesh, builder.WithPredicates(objectiveAnnotations())).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &meshv1.Mesh{}, handler.OnlyControllerOwner())).
		Build(r)
	if err != nil {
		return err
	}
	r.controller = c
	return nil
}

func (r *MonitoringReconciler) meshInEffect(ctx context.Context, _ client.Object) []reconcile.Request {
	var all meshv1.MeshList
	if err := r.Client.List(ctx, &all); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing meshes to update their monitoring")
		return nil
	}
	if m := effectiveMesh(all.Items); m != nil {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: m.Name}}}
	}
	return nil
}

// objectiveAnnotations passes Service events that add, change or remove
// an objective annotation.
func objectiveAnnotations() predicate.Predicate {
	has := func(o client.Object) bool {
		a := o.GetAnnotations()
		_, av := a[monitoring.AnnotationSLOAvailability]
		_, lat := a[monitoring.AnnotationSLOLatency]
		return av || lat
	}
	same := func(a, b client.Object) bool {
		for _, k := range []string{monitoring.AnnotationSLOAvailability, monitoring.AnnotationSLOLatency} {
			if a.GetAnnotations()[k] != b.GetAnnotations()[k] {
				return false
			}
		}
		return true
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return has(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return has(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return !same(e.ObjectOld, e.ObjectNew) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
