package sidecar

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// series counts the series of each family in the proxy's registry.
func (p *testProxy) series(t testing.TB) map[string]int {
	t.Helper()
	families, err := p.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range families {
		out[f.GetName()] = len(f.GetMetric())
	}
	return out
}

// TestSeriesDoNotGrowWithPaths sends 10,000 requests with distinct paths,
// methods and query strings: the proxy's series count stays where the
// first requests put it, because no label carries a path or anything a
// caller chooses.
func TestSeriesDoNotGrowWithPaths(t *testing.T) {
	s := newScenario(t)
	b := startBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		// Some responses are 404s from the first requests on, so the only
		// series that appear later would come from the paths.
		if strings.HasSuffix(r.URL.Path, "0") {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	s.publish([]*clusterv3.Cluster{simpleCluster("web")},
		[]*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(b)...))},
		build.RouteToCluster("default", "web", 10*time.Second))
	send := func(from, to int) {
		for i := from; i < to; i++ {
			req, err := http.NewRequestWithContext(t.Context(), []string{http.MethodGet, http.MethodPost, http.MethodDelete}[i%3],
				s.url(fmt.Sprintf("/users/%d/orders/%d?session=%x", i, i*7, i*31)), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", fmt.Sprintf("client-%d", i))
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
		}
	}
	send(0, 100)
	before := s.proxy.series(t)
	send(100, 10_000)
	after := s.proxy.series(t)
	total := 0
	for name, n := range after {
		total += n
		if n != before[name] {
			t.Errorf("%s grew from %d to %d series over 9,900 requests with new paths: a label carries request data", name, before[name], n)
		}
	}
	if n := s.proxy.metric(t, "plexus_requests_total", "direction", "outbound", "destination_service", "web", "response_code", "200"); n < 8000 {
		t.Fatalf("only %v requests counted as 200", n)
	}
	t.Logf("%d series after 10,000 requests with distinct paths", total)
}
