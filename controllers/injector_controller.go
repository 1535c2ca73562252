package controllers

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admissionv1ac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
)

// fieldOwner is the operator's server-side apply field manager.
const fieldOwner = client.FieldOwner("plexus-operator")

// InjectorReconciler keeps the sidecar injector's
// MutatingWebhookConfiguration in step with the Mesh in effect (which
// namespaces are injected) and with the webhook's CA bundle. Without a
// Mesh there is no configuration, so pod creation never depends on an
// injector that has nothing to inject.
type InjectorReconciler struct {
	client.Client
	// CABundle returns the PEM CAs that verify the webhook's serving
	// certificate; nil until there is one.
	CABundle func() []byte
	// Name of the MutatingWebhookConfiguration.
	Name string
	// Service is how the API server reaches the webhook in a cluster.
	Service *admissionregistrationv1.ServiceReference
	// URL is used instead of Service when set, for an operator that runs
	// outside the cluster.
	URL string
	// ExcludeNamespaces never get sidecars: the operator's own and the
	// system namespaces.
	ExcludeNamespaces []string

	bundleChanged chan event.GenericEvent
}

// BundleChanged makes the reconciler apply the new CA bundle; the
// certificate keeper calls it. It never blocks.
func (r *InjectorReconciler) BundleChanged() {
	select {
	case r.bundleChanged <- event.GenericEvent{Object: &admissionregistrationv1.MutatingWebhookConfiguration{}}:
	default: // a reconcile is already pending
	}
}

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;create;update;patch;delete

// Reconcile applies or removes the webhook configuration.
func (r *InjectorReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var meshes meshv1.MeshList
	if err := r.List(ctx, &meshes); err != nil {
		return ctrl.Result{}, err
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: r.Name}}
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, cfg))
	}
	bundle := r.CABundle()
	if len(bundle) == 0 {
		// The certificate keeper signals when it has one.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	if err := r.Apply(ctx, r.desired(r.namespaceSelector(mesh), bundle), fieldOwner, client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("applying MutatingWebhookConfiguration %s: %w", r.Name, err)
	}
	return ctrl.Result{}, nil
}

// namespaceSelector is the Mesh's selector, narrowed to leave out the
// excluded namespaces whatever their labels say.
func (r *InjectorReconciler) namespaceSelector(mesh *meshv1.Mesh) *metav1ac.LabelSelectorApplyConfiguration {
	want := InjectionSelector(mesh, r.ExcludeNamespaces)
	sel := metav1ac.LabelSelector().WithMatchLabels(want.MatchLabels)
	for _, e := range want.MatchExpressions {
		sel.WithMatchExpressions(metav1ac.LabelSelectorRequirement().WithKey(e.Key).WithOperator(e.Operator).WithValues(e.Values...))
	}
	return sel
}

func (r *InjectorReconciler) desired(selector *metav1ac.LabelSelectorApplyConfiguration, bundle []byte) *admissionv1ac.MutatingWebhookConfigurationApplyConfiguration {
	clientConfig := admissionv1ac.WebhookClientConfig().WithCABundle(bundle...)
	if r.URL != "" {
		clientConfig.WithURL(r.URL + inject.Path)
	} else {
		clientConfig.WithService(admissionv1ac.ServiceReference().
			WithNamespace(r.Service.Namespace).WithName(r.Service.Name).WithPort(*r.Service.Port).WithPath(inject.Path))
	}
	return admissionv1ac.MutatingWebhookConfiguration(r.Name).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": "plexus-operator"}).
		WithWebhooks(admissionv1ac.MutatingWebhook().
			WithName("inject.mesh.plexus.dev").
			WithClientConfig(clientConfig).
			WithRules(admissionv1ac.RuleWithOperations().
				WithOperations(admissionregistrationv1.Create).
				WithAPIGroups("").WithAPIVersions("v1").WithResources("pods").
				WithScope(admissionregistrationv1.NamespacedScope)).
			WithNamespaceSelector(selector).
			// Pods that opt out or use the host network are never sent,
			// so their creation does not depend on the operator at all.
			WithMatchConditions(
				admissionv1ac.MatchCondition().WithName("not-opted-out").WithExpression(
					fmt.Sprintf(`!has(object.metadata.annotations) || !(%q in object.metadata.annotations) || object.metadata.annotations[%q] != "false"`, inject.AnnotationInject, inject.AnnotationInject)),
				admissionv1ac.MatchCondition().WithName("not-host-network").WithExpression(
					`!has(object.spec.hostNetwork) || !object.spec.hostNetwork`)).
			// A pod in a meshed namespace that starts without its proxy
			// would talk in plaintext and bypass policy: fail closed.
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithSideEffects(admissionregistrationv1.SideEffectClassNone).
			WithTimeoutSeconds(10).
			WithReinvocationPolicy(admissionregistrationv1.NeverReinvocationPolicy).
			WithAdmissionReviewVersions("v1"))
}

// SetupWithManager watches Meshes, the webhook configuration (so that
// edits by others are reverted) and CA bundle changes.
func (r *InjectorReconciler) SetupWithManager(mgr ctrl.Manager) error {
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: r.Name}}}
	})
	r.bundleChanged = make(chan event.GenericEvent, 1)
	return ctrl.NewControllerManagedBy(mgr).
		Named("injector").
		Watches(&meshv1.Mesh{}, one).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, one, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == r.Name
		}))).
		WatchesRawSource(source.Channel(r.bundleChanged, one)).
		Complete(r)
}
