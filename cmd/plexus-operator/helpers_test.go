package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// createReadyMesh creates the Mesh "default" and waits until the operator
// reports it Ready.
func createReadyMesh(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	mesh := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example"}}
	if err := c.Create(ctx, mesh); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "Mesh Ready", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(mesh), mesh); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(mesh.Status.Conditions, meshv1.ConditionReady) {
			return fmt.Errorf("conditions: %+v", mesh.Status.Conditions)
		}
		return nil
	})
}

// waitReadyz waits until the operator's /readyz on probeAddr answers 200.
func waitReadyz(t *testing.T, probeAddr string) {
	t.Helper()
	testenv.Eventually(t, "readiness", func() error {
		code, body, err := testenv.Get("http://" + probeAddr + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/readyz answered %d: %s", code, body)
		}
		return err
	})
}
