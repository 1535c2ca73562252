package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// readyIs waits until the Mesh's Ready condition has the given status and
// reason for its current generation.
func readyIs(t *testing.T, name string, status metav1.ConditionStatus, reason string) *meshv1.Mesh {
	t.Helper()
	var mesh meshv1.Mesh
	testenv.Eventually(t, "Mesh "+name+" Ready="+string(status), func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &mesh); err != nil {
			return err
		}
		if mesh.Status.ObservedGeneration != mesh.Generation {
			return fmt.Errorf("Mesh %s: observedGeneration %d, generation %d", name, mesh.Status.ObservedGeneration, mesh.Generation)
		}
		c := meta.FindStatusCondition(mesh.Status.Conditions, meshv1.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != mesh.Generation {
			return fmt.Errorf("Mesh %s: Ready condition %+v, want %s/%s at generation %d", name, c, status, reason, mesh.Generation)
		}
		return nil
	})
	return &mesh
}

// updateMesh changes the Mesh's spec with edit, reading it again when a
// controller updated its status in between.
func updateMesh(t *testing.T, name string, edit func(*meshv1.Mesh)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var mesh meshv1.Mesh
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &mesh); err != nil {
			return err
		}
		edit(&mesh)
		return env.Client.Update(context.Background(), &mesh)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMeshReconcilerReportsReadinessAndFollowsUpdates(t *testing.T) {
	ctx := context.Background()
	mesh := &meshv1.Mesh{
		ObjectMeta: metav1.ObjectMeta{Name: "updates"},
		Spec:       meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"},
	}
	if err := env.Client.Create(ctx, mesh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, mesh) })
	readyIs(t, "updates", metav1.ConditionTrue, meshv1.ReasonValid)

	// A problem only the reconciler can see turns Ready False with a message.
	updateMesh(t, "updates", func(m *meshv1.Mesh) {
		m.Spec.Observability.PrometheusRule.AlertLabels = map[string]string{"team.name": "platform"}
	})
	mesh = readyIs(t, "updates", metav1.ConditionFalse, meshv1.ReasonInvalidSpec)
	msg := meta.FindStatusCondition(mesh.Status.Conditions, meshv1.ConditionReady).Message
	if want := `alertLabels[team.name]: Invalid value: "team.name": not a Prometheus label name`; !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}

	// Fixing it makes the Mesh Ready again, at the new generation.
	updateMesh(t, "updates", func(m *meshv1.Mesh) {
		m.Spec.Observability.PrometheusRule.AlertLabels = map[string]string{"team_name": "platform"}
	})
	readyIs(t, "updates", metav1.ConditionTrue, meshv1.ReasonValid)
}

func TestMeshReconcilerOneMeshPerCluster(t *testing.T) {
	ctx := context.Background()
	first := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "first"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}}
	if err := env.Client.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	readyIs(t, "first", metav1.ConditionTrue, meshv1.ReasonValid)
	second := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}}
	if err := env.Client.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, second) })
	readyIs(t, "second", metav1.ConditionFalse, meshv1.ReasonDuplicateMesh)

	// When the Mesh in effect goes away, the remaining one takes over.
	if err := env.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	readyIs(t, "second", metav1.ConditionTrue, meshv1.ReasonValid)
}
