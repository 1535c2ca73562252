package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
)

// GatewayName names the east-west gateway's Deployment, Service and
// service account.
const GatewayName = "plexus-east-west-gateway"

// Reasons of the FederationReady condition.
const (
	ReasonGatewayAvailable   = "GatewayAvailable"
	ReasonGatewayUnavailable = "GatewayUnavailable"
	ReasonGatewayDisabled    = "GatewayDisabled"
)

// GatewayReconciler runs the east-west gateway when the Mesh in effect
// enables it: a Deployment of plexus-proxy gateway, configured over xDS,
// and a Service exposing its port to peers, both owned by the Mesh. It
// reports FederationReady on the Mesh.
type GatewayReconciler struct {
	Client client.Client
	// Namespace of the operator, where the gateway runs.
	Namespace string
	// ProxyImage runs the gateway unless the Mesh names another;
	// XDSAddress is where it reaches the control plane, and CAAddress the
	// certificate service, from which it gets the identity it presents
	// to the control plane.
	ProxyImage, XDSAddress, CAAddress string
}

// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings the gateway of the Mesh in effect up to date.
func (r *GatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var meshes meshv1.MeshList
	if err := r.Client.List(ctx, &meshes); err != nil {
		return ctrl.Result{}, err
	}
	mesh := effectiveMesh(meshes.Items)
	if mesh == nil || mesh.Name != req.Name {
		return ctrl.Result{}, nil
	}
	spec := mesh.Spec.DeepCopy()
	spec.Default()
	gw := spec.Federation.EastWestGateway
	objs := r.objects(mesh, spec)
	cond := metav1.Condition{Type: meshv1.ConditionFederationReady, ObservedGeneration: mesh.Generation}
	if !*gw.Enabled {
		for _, o := range objs {
			if err := deleteOurs(ctx, r.Client, o); err != nil {
				return ctrl.Result{}, err
			}
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonGatewayDisabled
		cond.Message = "spec.federation.eastWestGateway.enabled is false: peers cannot reach this cluster's exported services"
		return ctrl.Result{}, setMeshCondition(ctx, r.Client, mesh, cond)
	}
	owner := metav1.NewControllerRef(mesh, meshv1.GroupVersion.WithKind("Mesh"))
	for _, o := range objs {
		o.SetOwnerReferences([]metav1.OwnerReference{*owner})
		if err := applyObject(ctx, r.Client, o); err != nil {
			return ctrl.Result{}, fmt.Errorf("applying %T %s: %w", o, o.GetName(), err)
		}
	}
	var dep appsv1.Deployment
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: GatewayName}, &dep); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if dep.Status.AvailableReplicas > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonGatewayAvailable
		cond.Message = fmt.Sprintf("east-west gateway: %d of %d replicas available on port %d", dep.Status.AvailableReplicas, gw.Replicas, gw.Port)
	} else {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonGatewayUnavailable
		cond.Message = fmt.Sprintf("east-west gateway Deployment %s/%s has no available replica yet", r.Namespace, GatewayName)
	}
	return ctrl.Result{}, setMeshCondition(ctx, r.Client, mesh, cond)
}

// objects are the gateway's service account, Deployment and Service.
func (r *GatewayReconciler) objects(mesh *meshv1.Mesh, spec *meshv1.MeshSpec) []client.Object {
	gw := spec.Federation.EastWestGateway
	image := r.ProxyImage
	if inj := spec.Injection; inj != nil && inj.ProxyImage != "" {
		image = inj.ProxyImage
	}
	labels := map[string]string{"app.kubernetes.io/name": GatewayName, "app.kubernetes.io/part-of": "plexus", "app.kubernetes.io/managed-by": "plexus-operator"}
	podLabels := map[string]string{"app.kubernetes.io/name": GatewayName, inject.LabelProxy: "true"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: r.Namespace, Name: name, Labels: labels}
	}
	// The gateway passes peers' connections through without decrypting
	// them; its own certificate is for its xDS connection.
	id := inject.Config{CAAddress: r.CAAddress}
	if spec.Identity != nil && spec.Identity.SPIRE != nil {
		id.WorkloadAPISocket = spec.Identity.SPIRE.WorkloadAPISocket
	}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(GatewayName),
		AutomountServiceAccountToken: ptr.To(false)}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(GatewayName),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(gw.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": GatewayName}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{inject.AnnotationInject: "false"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: GatewayName,
					Volumes:            inject.IdentityVolumes(id),
					SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:  "gateway",
						Image: image,
						Args: append([]string{"gateway", "--xds-address", r.XDSAddress, "--cluster", string(mesh.Spec.ClusterName),
							"--namespace", r.Namespace, "--service-account", GatewayName, "--node-id", "$(POD_NAME)." + r.Namespace,
							fmt.Sprintf("--status-address=:%d", inject.StatusPort)}, inject.IdentityArgs(id)...),
						VolumeMounts: inject.IdentityMounts(id),
						Env:          []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						Ports: []corev1.ContainerPort{
							{Name: "tls-peers", ContainerPort: gw.Port, Protocol: corev1.ProtocolTCP},
							{Name: inject.StatusPortName, ContainerPort: inject.StatusPort, Protocol: corev1.ProtocolTCP},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(inject.StatusPort)}}},
						Resources:      DefaultProxyResources(),
						SecurityContext: &corev1.SecurityContext{
							RunAsUser: ptr.To(int64(inject.ProxyUID)), RunAsGroup: ptr.To(int64(inject.ProxyUID)),
							AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(GatewayName),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceType(gw.ServiceType),
			Selector: map[string]string{"app.kubernetes.io/name": GatewayName},
			Ports:    []corev1.ServicePort{{Name: "tls-peers", Port: gw.Port, TargetPort: intstr.FromInt32(gw.Port), Protocol: corev1.ProtocolTCP}},
		},
	}
	return []client.Object{sa, dep, svc}
}

// SetupWithManager watches the Meshes (spec changes) and the gateway's
// Deployment (availability).
func (r *GatewayReconciler) SetupWithManager(mgr ctrl.Manager) error {
	inEffect := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var all meshv1.MeshList
		if err := r.Client.List(ctx, &all); err != nil {
			return nil
		}
		if m := effectiveMesh(all.Items); m != nil {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: m.Name}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("east-west-gateway").
		Watches(&meshv1.Mesh{}, inEffect, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &meshv1.Mesh{}, handler.OnlyControllerOwner())).
		Complete(r)
}
