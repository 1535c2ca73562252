package sidecar

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// BenchmarkOneHop measures requests through one sidecar to a backend with
// a 1 kB response, over keep-alive connections, in parallel. Profile with
// -cpuprofile to find the proxy's hot spots.
func BenchmarkOneHop(b *testing.B) {
	s := newScenario(b)
	body := strings.Repeat("x", 1024)
	be := startBackend(b, "web", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
	s.publish([]*clusterv3.Cluster{simpleCluster("web")},
		[]*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(be)...))},
		build.RouteToCluster("default", "web", 10*time.Second))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := s.url("/")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
