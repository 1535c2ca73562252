package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
)

func conditions(cs []model.Condition, generation int64, old []metav1.Condition) []metav1.Condition {
	out := append([]metav1.Condition(nil), old...)
	for _, c := range cs {
		status := metav1.ConditionFalse
		if c.Status {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&out, metav1.Condition{Type: c.Type, Status: status, Reason: c.Reason, Message: c.Message, ObservedGeneration: generation})
	}
	return out
}

func serviceParent(svc model.NamespacedName, port uint32) gwapiv1.ParentReference {
	group, kind := gwapiv1.Group(""), gwapiv1.Kind("Service")
	ns := gwapiv1.Namespace(svc.Namespace)
	ref := gwapiv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: gwapiv1.ObjectName(svc.Name)}
	if port != 0 {
		p := gwapiv1.PortNumber(port)
		ref.Port = &p
	}
	return ref
}

// writeRouteStatus sets Plexus's parent statuses on an HTTPRoute or
// GRPCRoute, leaving other controllers' entries alone.
func (r *MeshConfigReconciler) writeRouteStatus(ctx context.Context, obj client.Object, st []model.ParentStatus) error {
	if !r.writes() {
		return nil
	}
	var status *gwapiv1.RouteStatus
	switch o := obj.(type) {
	case *gwapiv1.HTTPRoute:
		status = &o.Status.RouteStatus
	case *gwapiv1.GRPCRoute:
		status = &o.Status.RouteStatus
	default:
		return nil
	}
	before := status.DeepCopy()
	var kept []gwapiv1.RouteParentStatus
	old := map[string][]metav1.Condition{}
	for _, p := range status.Parents {
		if p.ControllerName == ControllerName {
			old[fmt.Sprint(p.ParentRef)] = p.Conditions
			continue
		}
		kept = append(kept, p)
	}
	for _, ps := range st {
		ref := serviceParent(ps.Parent.Service, ps.Parent.Port)
		kept = append(kept, gwapiv1.RouteParentStatus{
			ParentRef: ref, ControllerName: ControllerName,
			Conditions: conditions(ps.Conditions, obj.GetGeneration(), old[fmt.Sprint(ref)]),
		})
	}
	status.Parents = kept
	if equality.Semantic.DeepEqual(before, status) {
		return nil
	}
	return ignoreGone(r.Client.Status().Update(ctx, obj))
}

// writePolicyStatus sets a TrafficPolicy's ancestor statuses.
func (r *MeshConfigReconciler) writePolicyStatus(ctx context.Context, p *meshv1.TrafficPolicy, st []model.PolicyStatus) error {
	if !r.writes() {
		return nil
	}
	if p == nil {
		return nil
	}
	before := p.Status.DeepCopy()
	old := map[string][]metav1.Condition{}
	var kept []gwapiv1.PolicyAncestorStatus
	for _, a := range p.Status.Ancestors {
		if a.ControllerName == ControllerName {
			old[fmt.Sprint(a.AncestorRef)] = a.Conditions
			continue
		}
		kept = append(kept, a)
	}
	for _, ps := range st {
		ref := serviceParent(ps.Target.Service, 0)
		kept = append(kept, gwapiv1.PolicyAncestorStatus{
			AncestorRef: ref, ControllerName: ControllerName,
			Conditions: conditions(ps.Conditions, p.Generation, old[fmt.Sprint(ref)]),
		})
	}
	p.Status.Ancestors = kept
	if equality.Semantic.DeepEqual(before, &p.Status) {
		return nil
	}
	return ignoreGone(r.Client.Status().Update(ctx, p))
}

// writeAuthorizationStatus sets an AuthorizationPolicy's Accepted
// condition.
func (r *MeshConfigReconciler) writeAuthorizationStatus(ctx context.Context, p *meshv1.AuthorizationPolicy, c model.Condition) error {
	if !r.writes() {
		return nil
	}
	before := p.Status.DeepCopy()
	p.Status.Conditions = conditions([]model.Condition{c}, p.Generation, p.Status.Conditions)
	p.Status.ObservedGeneration = p.Generation
	if equality.Semantic.DeepEqual(before, &p.Status) {
		return nil
	}
	return ignoreGone(r.Client.Status().Update(ctx, p))
}

// ignoreGone drops errors for objects deleted or changed meanwhile: the
// next reconcile writes their status.
func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
