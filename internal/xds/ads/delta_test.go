package ads

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// TestDeltaXDSSendsOnlyWhatChanged subscribes to clusters over incremental
// xDS and checks that a change to one service sends that service's cluster
// alone, not the whole mesh.
func TestDeltaXDSSendsOnlyWhatChanged(t *testing.T) {
	srv, conn := serve(t, Config{Debounce: 20 * time.Millisecond})

	twoServices := func(lb model.LoadBalancer) *model.Mesh {
		m := mesh("10.0.0.21")
		other := *m.Services[0]
		other.Key.Name = "ratings"
		m.Services = append(m.Services, &other)
		m.TrafficPolicies = []*model.TrafficPolicy{{Key: model.NamespacedName{Namespace: "shop", Name: "p"},
			Targets: []model.PolicyTarget{{Service: model.NamespacedName{Namespace: "shop", Name: "ratings"}}}, LoadBalancer: lb}}
		m.Sort()
		return m
	}
	srv.Update(twoServices(model.Random))

	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	meta := nodemeta.Metadata{Workload: "w", Namespace: "shop", ServiceAccount: "w", IP: "10.0.0.10"}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		Node: &corev3.Node{Id: "delta-1", Metadata: meta.Struct()}, TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: []string{"*"},
	}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetResources()) < 3 { // two services, passthrough, inbound
		t.Fatalf("first delta response has %d clusters", len(first.GetResources()))
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: first.GetNonce()}); err != nil {
		t.Fatal(err)
	}

	srv.Update(twoServices(model.LeastRequest)) // only ratings' cluster changes
	second, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range second.GetResources() {
		names = append(names, r.GetName())
	}
	if len(names) != 1 || names[0] != "outbound|9080|shop|ratings" {
		t.Fatalf("second delta response carries %v, want only the changed cluster", names)
	}
}
