package ads

import (
	"net/netip"
	"testing"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// TestWorkloadForTrustsAnAddressOnlyWithinAnIdentity: a proxy gets the
// inbound configuration of the workload at the address it claims only
// when that workload runs as the proxy's own service account.
func TestWorkloadForTrustsAnAddressOnlyWithinAnIdentity(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.7")
	reviews := &model.Workload{Key: model.NamespacedName{Namespace: "shop", Name: "reviews-1"}, Name: "reviews-1", ServiceAccount: "reviews", Address: addr}
	workloads := indexWorkloads(&model.Mesh{Workloads: []*model.Workload{reviews}})

	own := &nodemeta.Metadata{Workload: "reviews-1", Namespace: "shop", ServiceAccount: "reviews", IP: "10.0.0.7"}
	if got := workloadFor(workloads, own); got != reviews {
		t.Errorf("the proxy of reviews-1 got %+v, want the model's workload", got)
	}
	squatter := &nodemeta.Metadata{Workload: "ratings-1", Namespace: "shop", ServiceAccount: "ratings", IP: "10.0.0.7"}
	got := workloadFor(workloads, squatter)
	if got == reviews || got.ServiceAccount != "ratings" || got.Name != "ratings-1" {
		t.Errorf("a ratings proxy claiming reviews-1's address got %+v, want only what it describes itself", got)
	}
}
