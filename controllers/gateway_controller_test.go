package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

func federationReadyIs(t *testing.T, name string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	testenv.Eventually(t, "Mesh "+name+" FederationReady "+reason, func() error {
		var mesh meshv1.Mesh
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &mesh); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mesh.Status.Conditions, meshv1.ConditionFederationReady)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != mesh.Generation {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}

// TestEastWestGatewayFollowsTheMesh enables the gateway on a Mesh: the
// operator runs it as a Deployment with a Service on the Mesh's port,
// reports when it is available, and removes it when disabled.
func TestEastWestGatewayFollowsTheMesh(t *testing.T) {
	ctx := context.Background()
	mesh := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "gateway"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example",
		Federation: &meshv1.Federation{EastWestGateway: &meshv1.EastWestGateway{Enabled: ptr.To(true), Port: 16443, Replicas: 3, ServiceType: "ClusterIP"}}}}
	create(t, mesh)
	federationReadyIs(t, "gateway", metav1.ConditionFalse, ReasonGatewayUnavailable)

	key := client.ObjectKey{Namespace: monitoringNamespace, Name: GatewayName}
	var dep appsv1.Deployment
	if err := env.Client.Get(ctx, key, &dep); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if *dep.Spec.Replicas != 3 || c.Image != "example.com/plexus-proxy:test" || c.Args[0] != "gateway" || c.Ports[0].ContainerPort != 16443 ||
		dep.Spec.Template.Labels[inject.LabelProxy] != "true" || *c.SecurityContext.ReadOnlyRootFilesystem != true || dep.OwnerReferences[0].Name != "gateway" {
		t.Errorf("Deployment %+v", dep.Spec)
	}
	// The gateway gets an identity from the certificate service, as an
	// injected proxy does, for its mTLS connection to the control plane.
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--ca-address=plexus-operator.plexus-monitoring.svc:15012") || !strings.Contains(args, "--credential-file=") ||
		!strings.Contains(args, "--service-account "+GatewayName) || len(c.VolumeMounts) != 2 || len(dep.Spec.Template.Spec.Volumes) != 2 {
		t.Errorf("the gateway has no identity: args %q, mounts %+v", args, c.VolumeMounts)
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, key, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].Port != 16443 || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %+v", svc.Spec)
	}

	// Kubernetes brings a replica up (envtest has no controllers: say so).
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Status.Replicas, dep.Status.AvailableReplicas, dep.Status.ReadyReplicas = 3, 1, 1
	if err := env.Client.Status().Patch(ctx, &dep, patch); err != nil {
		t.Fatal(err)
	}
	federationReadyIs(t, "gateway", metav1.ConditionTrue, ReasonGatewayAvailable)

	updateMesh(t, "gateway", func(m *meshv1.Mesh) { m.Spec.Federation.EastWestGateway.Enabled = ptr.To(false) })
	federationReadyIs(t, "gateway", metav1.ConditionFalse, ReasonGatewayDisabled)
	testenv.Eventually(t, "gateway removed", func() error {
		if err := env.Client.Get(ctx, key, &appsv1.Deployment{}); err == nil {
			return fmt.Errorf("Deployment still there")
		}
		if err := env.Client.Get(ctx, key, &corev1.Service{}); err == nil {
			return fmt.Errorf("Service still there")
		}
		return nil
	})
}
