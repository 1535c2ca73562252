package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
		if mesh, ok := o.(*meshv1.Mesh); ok {
			// A cluster has one Mesh in effect: leave none behind.
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mesh) })
		}
	}
}

func service(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
	}
}

// TestProviderPublishesTheModelAndReportsStatus runs the Kubernetes
// provider against a real API server: the model follows the cluster, and
// routes and policies say whether they are in effect.
func TestProviderPublishesTheModelAndReportsStatus(t *testing.T) {
	ctx := context.Background()
	create(t,
		&meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "provider"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		service("reviews"),
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "reviews-1", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](9080)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.21"}}},
		},
	)
	testenv.Eventually(t, "the model has the service and its endpoint", func() error {
		m := published.get()
		if m == nil {
			return errors.New("no model published yet")
		}
		svc := m.Service(model.NamespacedName{Namespace: "shop", Name: "reviews"})
		if svc == nil || len(svc.Endpoints) != 1 || svc.Endpoints[0].Address.String() != "10.0.0.21" {
			return fmt.Errorf("service in the model: %+v", svc)
		}
		return nil
	})

	route := &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "canary"},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Group: ptr.To(gwapiv1.Group("")), Kind: ptr.To(gwapiv1.Kind("Service")), Name: "reviews"}}},
			Rules: []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{
				{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "reviews", Port: ptr.To(gwapiv1.PortNumber(9080))}, Weight: ptr.To[int32](90)}},
				{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "reviews-v2", Port: ptr.To(gwapiv1.PortNumber(9080))}, Weight: ptr.To[int32](10)}},
			}}},
		},
	}
	create(t, route)
	routeCondition := func(typ string, want metav1.ConditionStatus, reason string) func() error {
		return func() error {
			var r gwapiv1.HTTPRoute
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(route), &r); err != nil {
				return err
			}
			for _, p := range r.Status.Parents {
				if p.ControllerName != ControllerName {
					continue
				}
				c := meta.FindStatusCondition(p.Conditions, typ)
				if c != nil && c.Status == want && c.Reason == reason {
					return nil
				}
				return fmt.Errorf("parent status %+v", p.Conditions)
			}
			return errors.New("no status from Plexus yet")
		}
	}
	testenv.Eventually(t, "route accepted", routeCondition("Accepted", metav1.ConditionTrue, "Accepted"))
	testenv.Eventually(t, "missing backend reported", routeCondition("ResolvedRefs", metav1.ConditionFalse, "BackendNotFound"))
	create(t, service("reviews-v2"))
	testenv.Eventually(t, "backend resolved once it exists", routeCondition("ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs"))

	target := []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "", Kind: "Service", Name: "reviews"}}}
	older := &meshv1.TrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "older"},
		Spec: meshv1.TrafficPolicySpec{TargetRefs: target, LoadBalancer: &meshv1.LoadBalancer{Type: meshv1.LoadBalancerRandom}}}
	create(t, older)
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	newer := &meshv1.TrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "newer"},
		Spec: meshv1.TrafficPolicySpec{TargetRefs: target, LoadBalancer: &meshv1.LoadBalancer{Type: meshv1.LoadBalancerLeastRequest}}}
	create(t, newer)
	testenv.Eventually(t, "the newer policy reports the conflict", func() error {
		var p meshv1.TrafficPolicy
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(newer), &p); err != nil {
			return err
		}
		for _, a := range p.Status.Ancestors {
			if c := meta.FindStatusCondition(a.Conditions, "Conflicted"); a.ControllerName == ControllerName && c != nil && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("ancestors %+v", p.Status.Ancestors)
	})
}

// AuthorizationPolicies reach the model and carry an Accepted condition
// that names a missing target.
func TestProviderAuthorizationPolicies(t *testing.T) {
	ctx := context.Background()
	create(t,
		&meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "provider-authz"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bank"}},
	)
	svc := service("ledger")
	svc.Namespace = "bank"
	create(t, svc)
	policy := func(name, target string) *meshv1.AuthorizationPolicy {
		return &meshv1.AuthorizationPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: name},
			Spec: meshv1.AuthorizationPolicySpec{
				TargetRefs: []gwapiv1.LocalPolicyTargetReference{{Group: "", Kind: "Service", Name: gwapiv1.ObjectName(target)}},
				Rules:      []meshv1.AuthorizationRule{{From: []meshv1.AuthorizationSource{{Namespaces: []string{"bank"}}}}},
			},
		}
	}
	create(t, policy("ledger-callers", "ledger"), policy("typo", "ledgr"))
	accepted := func(name string, want metav1.ConditionStatus, message string) func() error {
		return func() error {
			var p meshv1.AuthorizationPolicy
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bank", Name: name}, &p); err != nil {
				return err
			}
			c := meta.FindStatusCondition(p.Status.Conditions, meshv1.ConditionAccepted)
			if c == nil || c.Status != want || !strings.Contains(c.Message, message) || c.ObservedGeneration != p.Generation {
				return fmt.Errorf("conditions %+v", p.Status.Conditions)
			}
			return nil
		}
	}
	testenv.Eventually(t, "accepted policy", accepted("ledger-callers", metav1.ConditionTrue, "applies"))
	testenv.Eventually(t, "policy naming a missing Service", accepted("typo", metav1.ConditionFalse, "Service bank/ledgr does not exist"))
	testenv.Eventually(t, "policies in the model", func() error {
		m := published.get()
		for _, p := range m.AuthorizationPolicies {
			if p.Key.Name == "ledger-callers" && p.Action == model.Allow && p.Rules[0].From[0].Namespaces[0] == "bank" {
				return nil
			}
		}
		return errors.New("ledger-callers is not in the model")
	})
}
