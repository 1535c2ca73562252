package v1alpha1_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/dump"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

// TestMeshDefaultsMatchAPIServer proves MeshSpec.Default (used where no API
// server is involved, as in local mode) gives exactly the schema defaults.
func TestMeshDefaultsMatchAPIServer(t *testing.T) {
	tests := map[string]meshv1.MeshSpec{
		"minimal": {ClusterName: "east", TrustDomain: "east.example"},
		"partial sections": {
			ClusterName: "east", TrustDomain: "east.example",
			Identity:      &meshv1.Identity{Builtin: &meshv1.BuiltinCA{}},
			Traffic:       &meshv1.TrafficDefaults{Retries: &meshv1.Retries{Attempts: ptr.To[int32](1), Budget: &meshv1.RetryBudget{}}},
			Observability: &meshv1.Observability{PrometheusRule: &meshv1.PrometheusRuleConfig{SLO: &meshv1.SLO{Availability: "99"}}},
			Federation:    &meshv1.Federation{EastWestGateway: &meshv1.EastWestGateway{Enabled: ptr.To(true)}},
		},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			mesh := &meshv1.Mesh{ObjectMeta: metav1.ObjectMeta{GenerateName: "defaults-"}, Spec: *spec.DeepCopy()}
			if err := env.Client.Create(context.Background(), mesh); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mesh) })
			want := spec.DeepCopy()
			want.Default()
			if !equality.Semantic.DeepEqual(mesh.Spec, *want) {
				t.Errorf("API server defaults differ from MeshSpec.Default:\nserver: %s\n    go: %s", dump.Pretty(mesh.Spec), dump.Pretty(*want))
			}
			if mesh.Spec.MTLS.Mode != meshv1.MTLSStrict || mesh.Spec.Traffic.LoadBalancer.Type != meshv1.LoadBalancerRoundRobin {
				t.Errorf("secure, round-robin defaults not applied: mTLS %q, load balancer %q", mesh.Spec.MTLS.Mode, mesh.Spec.Traffic.LoadBalancer.Type)
			}
		})
	}
}

func TestPolicyAndPeerDefaults(t *testing.T) {
	ctx := context.Background()
	authz := object(t, "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{}]}")
	peer := object(t, validPeer)
	for _, o := range []client.Object{authz, peer} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		got  any
		path []string
		want string
	}{
		{authz.Object, []string{"spec", "action"}, "ALLOW"},
		{peer.Object, []string{"spec", "importStaleness"}, "10m"},
		{peer.Object, []string{"spec", "trustBundle", "refreshInterval"}, "5m"},
		{peer.Object, []string{"spec", "trustBundle", "secretRef", "key"}, "bundle.pem"},
	}
	for _, c := range checks {
		v, _, _ := unstructured.NestedString(c.got.(map[string]any), c.path...)
		if v != c.want {
			t.Errorf("%v defaulted to %q, want %q", c.path, v, c.want)
		}
	}
}
