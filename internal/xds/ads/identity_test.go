package ads

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// TestNodeIDsOfKnownPods: a node ID names a pod; one the model knows runs
// as its own service account, and a proxy of another may not take its
// name, though it is in the same namespace.
func TestNodeIDsOfKnownPods(t *testing.T) {
	s := New(Config{Log: slog.New(slog.DiscardHandler)})
	s.Update(&model.Mesh{Workloads: []*model.Workload{
		{Key: model.NamespacedName{Namespace: "shop", Name: "reviews-0"}, Name: "reviews", ServiceAccount: "reviews", Address: netip.MustParseAddr("10.0.0.7")},
	}})
	claim := func(nodeID, sa string) error {
		meta := nodemeta.Metadata{Workload: sa, Namespace: "shop", ServiceAccount: sa, IP: "10.0.0.9"}
		peers := map[int64]spiffeid.ID{1: spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/" + sa)}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.authorize(peers, 1, &corev3.Node{Id: nodeID, Metadata: meta.Struct()})
	}
	if err := claim("reviews-0.shop", "ratings"); status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), "is the name of pod shop/reviews-0, which runs as service account reviews, not ratings") {
		t.Errorf("ratings under reviews-0's name: %v", err)
	}
	if err := claim("reviews-0.shop", "reviews"); err != nil {
		t.Errorf("reviews-0's own proxy: %v", err)
	}
	if err := claim("ratings-0.shop", "ratings"); err != nil {
		t.Errorf("a pod the model does not know yet: %v", err)
	}
}
