package sidecar

import (
	"errors"
	"net/http"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// TestServesWhileTheControlPlaneIsAway stops the control plane, checks the
// proxy keeps serving its last configuration, then brings the control
// plane back with a change and checks the proxy reconnects and takes it.
func TestServesWhileTheControlPlaneIsAway(t *testing.T) {
	s := newScenario(t)
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	cl := []*clusterv3.Cluster{simpleCluster("web")}
	s.publish(cl, []*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(a)...))},
		build.RouteToCluster("default", "web", 10*time.Second))

	s.cp.stop()
	testenv.Eventually(t, "proxy noticing the control plane is gone", func() error {
		if s.proxy.metric(t, "plexus_proxy_xds_connected") != 0 {
			return errors.New("still connected")
		}
		return nil
	})
	for range 20 {
		if code, who, _ := get(t, s.client, s.url("/")); code != http.StatusOK || who != "a" {
			t.Fatalf("with the control plane away: %d from %q", code, who)
		}
	}

	// The endpoint moves while the control plane is down; it comes back
	// with the change.
	v := s.cp.set(t, "client", resourcesFor(s, cl, []*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(b)...))},
		build.RouteToCluster("default", "web", 10*time.Second)))
	s.cp.restart(t)
	s.proxy.waitVersion(t, resourcev3.EndpointType, v)
	if code, who, _ := get(t, s.client, s.url("/")); code != http.StatusOK || who != "b" {
		t.Fatalf("after reconnecting: %d from %q, want b", code, who)
	}
	if s.proxy.metric(t, "plexus_proxy_xds_connected") != 1 {
		t.Fatal("plexus_proxy_xds_connected is not 1 after reconnecting")
	}
}
