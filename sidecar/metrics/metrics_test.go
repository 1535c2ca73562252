package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plexus-mesh/plexus/internal/telemetry"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/httpproxy"
)

func TestDestinationClusterIndex(t *testing.T) {
	if got := telemetry.RequestsTotal.Labels[destinationClusterLabel]; got != telemetry.LabelDestinationCluster {
		t.Fatalf("label %d is %s, not destination_cluster", destinationClusterLabel, got)
	}
}

func TestRequestLabelsBothSides(t *testing.T) {
	m := New(Workload{Name: "reviews-v1", Namespace: "shop", Cluster: "east"})
	m.SetTrustDomain("east.example")
	reviews := &config.Cluster{Name: "inbound|9080", Service: config.Service{Name: "reviews", Namespace: "shop", Cluster: "east"}}
	ratings := &config.Cluster{Name: "outbound|9080||ratings.shop", Service: config.Service{Name: "ratings", Namespace: "shop", Cluster: "west"}}
	m.Request(httpproxy.RequestEvent{Direction: config.Inbound, Cluster: reviews, Status: 200, Duration: time.Millisecond, Peer: "spiffe://east.example/ns/web/sa/frontend"})
	m.Request(httpproxy.RequestEvent{Direction: config.Inbound, Cluster: reviews, Status: 503, Duration: time.Millisecond, Peer: "spiffe://west.example/ns/web/sa/frontend"})
	// Once the CA names the peers' clusters, a west caller is west's.
	m.SetPeerClusters(map[string]string{"west.example": "west"})
	m.Request(httpproxy.RequestEvent{Direction: config.Inbound, Cluster: reviews, Status: 503, Duration: time.Millisecond, Peer: "spiffe://west.example/ns/web/sa/frontend"})
	m.Request(httpproxy.RequestEvent{Direction: config.Outbound, Cluster: ratings, Status: 200, GRPCStatus: "0", Duration: time.Millisecond})
	// Served by a host in north: the request counts toward north.
	m.Request(httpproxy.RequestEvent{Direction: config.Outbound, Cluster: ratings, Status: 200, GRPCStatus: "0", Duration: time.Millisecond, DestinationCluster: "north"})
	want := `
# HELP plexus_requests_total HTTP and gRPC requests handled by a proxy, by edge and outcome.
# TYPE plexus_requests_total counter
plexus_requests_total{destination_cluster="east",destination_namespace="shop",destination_service="reviews",direction="inbound",grpc_status="",response_code="200",source_cluster="east",source_namespace="web",source_workload="frontend"} 1
plexus_requests_total{destination_cluster="east",destination_namespace="shop",destination_service="reviews",direction="inbound",grpc_status="",response_code="503",source_cluster="unknown",source_namespace="web",source_workload="frontend"} 1
plexus_requests_total{destination_cluster="east",destination_namespace="shop",destination_service="reviews",direction="inbound",grpc_status="",response_code="503",source_cluster="west",source_namespace="web",source_workload="frontend"} 1
plexus_requests_total{destination_cluster="north",destination_namespace="shop",destination_service="ratings",direction="outbound",grpc_status="0",response_code="200",source_cluster="east",source_namespace="shop",source_workload="reviews-v1"} 1
plexus_requests_total{destination_cluster="west",destination_namespace="shop",destination_service="ratings",direction="outbound",grpc_status="0",response_code="200",source_cluster="east",source_namespace="shop",source_workload="reviews-v1"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "plexus_requests_total"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRecordRequest is what metrics cost a proxy per request: one
// counter and one histogram observation with the edge labels. The target
// is at most 2 µs (docs/reference/metrics.md).
func BenchmarkRecordRequest(b *testing.B) {
	m := New(Workload{Name: "frontend", Namespace: "web", Cluster: "east"})
	m.SetTrustDomain("east.example")
	clusters := []*config.Cluster{
		{Name: "a", Service: config.Service{Name: "reviews", Namespace: "shop", Cluster: "east"}},
		{Name: "b", Service: config.Service{Name: "ratings", Namespace: "shop", Cluster: "east"}},
		{Name: "c", Service: config.Service{Name: "details", Namespace: "shop", Cluster: "west"}},
	}
	b.Run("outbound", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Request(httpproxy.RequestEvent{Direction: config.Outbound, Cluster: clusters[i%3], Status: 200, Duration: 3 * time.Millisecond})
			i++
		}
	})
	b.Run("inbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Request(httpproxy.RequestEvent{Direction: config.Inbound, Cluster: clusters[0], Status: 200, Duration: time.Millisecond, Peer: "spiffe://east.example/ns/web/sa/frontend"})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Request(httpproxy.RequestEvent{Direction: config.Outbound, Cluster: clusters[i%3], Status: 200, Duration: 3 * time.Millisecond})
				i++
			}
		})
	})
}
