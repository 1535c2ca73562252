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
	getParallel(b, s.url("/"))
}

// getParallel sends GET url in parallel over keep-alive connections for
// the benchmark's iterations, and reads each response.
func getParallel(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
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
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkSidecarPair measures requests through a client and a server
// sidecar, which speak HTTP/2 to each other in plaintext (h2c) or mTLS,
// with a 1 kB response over keep-alive connections, in parallel: the
// difference is what mTLS costs per request.
func BenchmarkSidecarPair(b *testing.B) {
	for _, tc := range []struct {
		name      string
		plaintext bool
	}{{"h2c", true}, {"mTLS", false}} {
		b.Run(tc.name, func(b *testing.B) {
			m := startSidecarPair(b, &mtlsMesh{plaintext: tc.plaintext}, false, serverID)
			getParallel(b, m.url("/"))
		})
	}
}
