package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/model/kube"
)

// ControllerName is how Plexus signs the status it writes on Gateway API
// objects it shares with other controllers.
const ControllerName = "mesh.plexus.dev/controller"

// Publisher receives each new mesh model (the ADS server).
type Publisher interface {
	Update(m *model.Mesh)
}

// MeshConfigReconciler is the Kubernetes provider: it turns the cluster's
// Services, EndpointSlices, Pods, Mesh, TrafficPolicies and GAMMA routes
// into one mesh model, publishes it to the xDS server, and reports on each
// route and policy whether it is in effect.
type MeshConfigReconciler struct {
	Client    client.Client
	Publisher Publisher
	// GatewayAPI is set when the HTTPRoute and GRPCRoute CRDs are installed.
	GatewayAPI bool
	// MCS is set when the ServiceExport and ServiceImport CRDs are
	// installed: exports are read and imports written.
	MCS bool
	// Imports returns the services peers export here (federation); nil
	// for none.
	Imports func() []*model.Import
	// Trigger rebuilds the model when something outside the cluster
	// changes (a peer's exports).
	Trigger <-chan event.GenericEvent
	// FederationAddress is where the east-west gateway forwards peers to
	// the federation API; "" when the operator does not serve it.
	FederationAddress string

	// MayWrite says whether this replica writes to the API server (status,
	// ServiceImports): the leader does. Every replica builds the model and
	// serves its proxies. Nil: always.
	MayWrite func() bool

	// importProblems were last logged; logged again when they change.
	importProblems string
}

func (r *MeshConfigReconciler) writes() bool { return r.MayWrite == nil || r.MayWrite() }

// key is the single work item: any change rebuilds the whole model, and a
// burst of changes collapses into one reconcile in the queue.
var key = reconcile.Request{NamespacedName: types.NamespacedName{Name: "mesh-config"}}

// +kubebuilder:rbac:groups="",resources=services;pods;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=trafficpolicies;authorizationpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.plexus.dev,resources=trafficpolicies/status;authorizationpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes/status;grpcroutes/status,verbs=get;update;patch

// Reconcile rebuilds the model from the cache.
func (r *MeshConfigReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var meshes meshv1.MeshList
	if err := r.Client.List(ctx, &meshes); err != nil {
		return ctrl.Result{}, err
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil {
		return ctrl.Result{}, nil // nothing to serve until a Mesh exists
	}
	settings, err := kube.Settings(mesh)
	if err != nil {
		return ctrl.Result{}, reconcile.TerminalError(fmt.Errorf("mesh %s: %w", mesh.Name, err))
	}
	var (
		svcs   corev1.ServiceList
		slices discoveryv1.EndpointSliceList
		pods   corev1.PodList
		tps    meshv1.TrafficPolicyList
		aps    meshv1.AuthorizationPolicyList
	)
	for _, l := range []client.ObjectList{&svcs, &slices, &pods, &tps, &aps} {
		if err := r.Client.List(ctx, l); err != nil {
			return ctrl.Result{}, err
		}
	}
	settings.FederationAddress = r.FederationAddress
	cluster := kube.Cluster{Name: settings.ClusterName, TrustDomain: settings.TrustDomain}
	services := kube.Services(cluster, svcs.Items, slices.Items, pods.Items)
	m := &model.Mesh{Settings: settings, Services: services, Workloads: kube.Workloads(pods.Items, services)}
	var errs []error
	policies := map[model.NamespacedName]*meshv1.TrafficPolicy{}
	for i := range tps.Items {
		p, err := kube.TrafficPolicy(&tps.Items[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies[p.Key] = &tps.Items[i]
		m.TrafficPolicies = append(m.TrafficPolicies, p)
	}
	authz := map[model.NamespacedName]*meshv1.AuthorizationPolicy{}
	for i := range aps.Items {
		p, err := kube.AuthorizationPolicy(&aps.Items[i])
		if err != nil {
			errs = append(errs, r.writeAuthorizationStatus(ctx, &aps.Items[i], model.Condition{
				Type: model.ConditionAccepted, Reason: model.ReasonInvalid, Message: err.Error()}))
			continue
		}
		authz[p.Key] = &aps.Items[i]
		m.AuthorizationPolicies = append(m.AuthorizationPolicies, p)
	}
	routes := map[model.NamespacedName]client.Object{}
	if r.GatewayAPI {
		if err := r.listRoutes(ctx, m, routes); err != nil {
			return ctrl.Result{}, err
		}
	}
	if r.Imports != nil {
		m.Imports = r.Imports()
	}
	if r.MCS {
		gw := mesh.Spec.Federation.EastWestGateway
		errs = append(errs, r.applyExports(ctx, m, gw != nil && gw.Enabled != nil && *gw.Enabled), r.assignClusterSetIPs(ctx, m))
	}
	m.ApplyImports()
	if problems := strings.Join(m.ImportProblems, "\n"); problems != r.importProblems {
		r.importProblems = problems
		for _, msg := range m.ImportProblems {
			logf.FromContext(ctx).Info("a peer's export not imported", "problem", msg)
		}
	}
	m.Sort()
	if err := m.Validate(); err != nil {
		return ctrl.Result{}, fmt.Errorf("the mesh model is inconsistent, keeping the last one: %w", err)
	}
	r.Publisher.Update(m)
	if r.MCS {
		errs = append(errs, r.syncImports(ctx, m))
	}
	for _, rt := range m.Routes {
		errs = append(errs, r.writeRouteStatus(ctx, routes[rt.Key], m.RouteStatus(rt)))
	}
	for _, p := range m.TrafficPolicies {
		errs = append(errs, r.writePolicyStatus(ctx, policies[p.Key], m.TrafficPolicyStatus(p)))
	}
	for _, p := range m.AuthorizationPolicies {
		errs = append(errs, r.writeAuthorizationStatus(ctx, authz[p.Key], m.AuthorizationPolicyStatus(p)))
	}
	return ctrl.Result{}, errors.Join(errs...)
}

func (r *MeshConfigReconciler) listRoutes(ctx context.Context, m *model.Mesh, objs map[model.NamespacedName]client.Object) error {
	var hrs gwapiv1.HTTPRouteList
	var grs gwapiv1.GRPCRouteList
	if err := r.Client.List(ctx, &hrs); err != nil {
		return err
	}
	if err := r.Client.List(ctx, &grs); err != nil {
		return err
	}
	for i := range hrs.Items {
		if rt, err := kube.HTTPRoute(&hrs.Items[i]); err == nil && rt != nil {
			m.Routes = append(m.Routes, rt)
			objs[rt.Key] = &hrs.Items[i]
		}
	}
	for i := range grs.Items {
		if rt, err := kube.GRPCRoute(&grs.Items[i]); err == nil && rt != nil {
			// Route keys are per kind; a GRPCRoute named like an HTTPRoute
			// keeps its own status object.
			rt.Key.Name = "grpc:" + rt.Key.Name
			m.Routes = append(m.Routes, rt)
			objs[rt.Key] = &grs.Items[i]
		}
	}
	return nil
}

// SetupWithManager watches everything the model is built from.
func (r *MeshConfigReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return []reconcile.Request{key} })
	// Every replica serves xDS to the proxies connected to it, so every
	// replica builds the model, not only the leader.
	b := ctrl.NewControllerManagedBy(mgr).Named("mesh-config").
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Watches(&meshv1.Mesh{}, all).
		Watches(&corev1.Service{}, all).
		Watches(&discoveryv1.EndpointSlice{}, all).
		Watches(&corev1.Pod{}, all).
		Watches(&meshv1.TrafficPolicy{}, all).
		Watches(&meshv1.AuthorizationPolicy{}, all)
	if r.MCS {
		b = b.Watches(&mcsv1a1.ServiceExport{}, all)
	}
	if r.Trigger != nil {
		b = b.WatchesRawSource(source.Channel(r.Trigger, all))
	}
	if r.GatewayAPI {
		b = b.Watches(&gwapiv1.HTTPRoute{}, all).Watches(&gwapiv1.GRPCRoute{}, all)
	}
	return b.Complete(r)
}

// GatewayAPIInstalled reports whether the cluster serves HTTPRoute.
func GatewayAPIInstalled(mapper meta.RESTMapper) bool {
	_, err := mapper.RESTMapping(schema.GroupKind{Group: gwapiv1.GroupName, Kind: "HTTPRoute"}, gwapiv1.GroupVersion.Version)
	return err == nil
}
