package sidecar

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// scenario is one client proxy with an explicit outbound listener on
// 127.0.0.1:port whose routes ("routes") send to clusters of backends.
type scenario struct {
	t      testing.TB
	cp     *controlPlane
	proxy  *testProxy
	port   uint32
	client *http.Client
}

func newScenario(t testing.TB) *scenario {
	cp := startControlPlane(t)
	s := &scenario{t: t, cp: cp, proxy: startProxy(t, cp, "client"), port: freePort(t)}
	s.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

func (s *scenario) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path) }

func addrs(bs ...*backend) []*corev3.Address {
	var out []*corev3.Address
	for _, b := range bs {
		out = append(out, build.Address(b.host(), b.port()))
	}
	return out
}

// publish sends clusters (with their endpoints) and routes, and waits until
// the proxy has taken them.
func (s *scenario) publish(clusters []*clusterv3.Cluster, endpoints []*endpointv3.ClusterLoadAssignment, routes ...*routev3.Route) string {
	s.t.Helper()
	v := s.cp.set(s.t, "client", resourcesFor(s, clusters, endpoints, routes...))
	s.proxy.waitVersion(s.t, resourcev3.RouteType, v)
	s.proxy.waitVersion(s.t, resourcev3.EndpointType, v)
	return v
}

// resourcesFor is the scenario's listener and routes with the clusters.
func resourcesFor(s *scenario, clusters []*clusterv3.Cluster, endpoints []*endpointv3.ClusterLoadAssignment, routes ...*routev3.Route) map[resourcev3.Type][]types.Resource {
	res := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {build.Listener("outbound", "127.0.0.1", s.port, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "routes"))},
		resourcev3.RouteType:    {build.RouteConfig("routes", build.VirtualHost("all", []string{"*"}, routes...))},
	}
	for _, c := range clusters {
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], c)
	}
	for _, e := range endpoints {
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], e)
	}
	return res
}

func simpleCluster(name string) *clusterv3.Cluster {
	return build.Cluster(build.ClusterOptions{Name: name, Service: name, Namespace: "test", MeshCluster: "local"})
}

func withRetry(r *routev3.Route, retryOn string, attempts uint32, perTry time.Duration) *routev3.Route {
	rp := &routev3.RetryPolicy{RetryOn: retryOn, NumRetries: build.UInt32(attempts)}
	if perTry > 0 {
		rp.PerTryTimeout = build.Duration(perTry)
	}
	r.GetRoute().RetryPolicy = rp
	return r
}

func TestRoundRobinSpreadsEvenlyAcrossThreeEndpoints(t *testing.T) {
	s := newScenario(t)
	bs := []*backend{startBackend(t, "a", nil), startBackend(t, "b", nil), startBackend(t, "c", nil)}
	s.publish([]*clusterv3.Cluster{simpleCluster("web")},
		[]*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(bs...)...))},
		build.RouteToCluster("default", "web", 10*time.Second))
	got := map[string]int{}
	for range 300 {
		code, who, _ := get(t, s.client, s.url("/"))
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		got[who]++
	}
	for _, b := range bs {
		if got[b.name] != 100 {
			t.Fatalf("round robin over 3 endpoints gave %v, want 100 each", got)
		}
	}
	if n := s.proxy.metric(t, "plexus_requests_total", "direction", "outbound", "destination_service", "web", "response_code", "200"); n != 300 {
		t.Fatalf("plexus_requests_total counted %v requests, want 300", n)
	}
}

func TestNACKKeepsTheLastGoodConfig(t *testing.T) {
	s := newScenario(t)
	a := startBackend(t, "a", nil)
	cl := []*clusterv3.Cluster{simpleCluster("web")}
	eps := []*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(a)...))}
	good := s.publish(cl, eps, build.RouteToCluster("default", "web", 10*time.Second))

	bad := build.RouteToCluster("bad", "web", time.Second)
	bad.Match = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "(unclosed"}}}
	res := map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {cl[0]},
		resourcev3.EndpointType: {eps[0]},
		resourcev3.ListenerType: {build.Listener("outbound", "127.0.0.1", s.port, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "routes"))},
		resourcev3.RouteType:    {build.RouteConfig("routes", build.VirtualHost("all", []string{"*"}, bad))},
	}
	s.cp.set(t, "client", res)
	testenv.Eventually(t, "route NACK", func() error {
		if s.proxy.metric(t, "plexus_proxy_config_updates_total", "type", "RouteConfiguration", "result", "nack") < 1 {
			return fmt.Errorf("no NACK yet")
		}
		return nil
	})
	// The NACK tells the control plane what is wrong.
	testenv.Eventually(t, "NACK with an error detail at the control plane", func() error {
		for _, req := range s.cp.received() {
			if strings.Contains(req.GetErrorDetail().GetMessage(), `regex "(unclosed" does not compile`) {
				return nil
			}
		}
		return errors.New("no NACK saying the regex does not compile")
	})
	// go-control-plane resends a refused snapshot at once; the proxy backs
	// off instead of refusing it in a tight loop.
	time.Sleep(1500 * time.Millisecond)
	nacks := 0
	for _, req := range s.cp.received() {
		if req.GetErrorDetail() != nil {
			nacks++
		}
	}
	if nacks > 4 {
		t.Fatalf("the proxy refused the same configuration %d times in 1.5s; it should back off", nacks)
	}
	if v := s.proxy.Snapshot().Versions[resourcev3.RouteType]; v != good {
		t.Fatalf("route version moved to %q after a NACK; want %q", v, good)
	}
	if code, who, _ := get(t, s.client, s.url("/")); code != http.StatusOK || who != "a" {
		t.Fatalf("after a NACK: %d from %q; the old routes should still serve", code, who)
	}
}

func TestRetriesHideADeadEndpointAndOutlierDetectionEjectsIt(t *testing.T) {
	s := newScenario(t)
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	dead := startBackend(t, "dead", nil)
	_ = dead.srv.Close() // bound, then closed: connections are refused
	c := simpleCluster("web")
	c.OutlierDetection = &clusterv3.OutlierDetection{
		ConsecutiveGatewayFailure: build.UInt32(2), EnforcingConsecutiveGatewayFailure: build.UInt32(100),
		BaseEjectionTime: build.Duration(time.Minute), MaxEjectionPercent: build.UInt32(50),
	}
	s.publish([]*clusterv3.Cluster{c},
		[]*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(a, b, dead)...))},
		withRetry(build.RouteToCluster("default", "web", 10*time.Second), "connect-failure", 2, 0))
	for i := range 60 {
		if code, _, reason := get(t, s.client, s.url("/")); code != http.StatusOK {
			t.Fatalf("request %d: status %d (%s); retries should hide the dead endpoint", i, code, reason)
		}
	}
	if a.hits.Load()+b.hits.Load() != 60 {
		t.Fatalf("live backends served %d requests, want 60", a.hits.Load()+b.hits.Load())
	}
	if n := s.proxy.metric(t, "plexus_outlier_ejections_total", "destination_service", "web", "reason", "consecutive_gateway_errors"); n != 1 {
		t.Fatalf("dead endpoint ejected %v times, want 1", n)
	}
}

func TestRouteTimeoutAndPerTryTimeout(t *testing.T) {
	s := newScenario(t)
	slow := startBackend(t, "slow", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	fast := startBackend(t, "fast", nil)
	s.publish([]*clusterv3.Cluster{simpleCluster("slow"), simpleCluster("mixed")},
		[]*endpointv3.ClusterLoadAssignment{
			build.LoadAssignment("slow", build.Endpoints(0, "z1", addrs(slow)...)),
			build.LoadAssignment("mixed", build.Endpoints(0, "z1", addrs(slow, fast)...)),
		},
		routeWithPrefix("/slow", "slow", 200*time.Millisecond, nil),
		routeWithPrefix("/mixed", "mixed", 10*time.Second, &routev3.RetryPolicy{
			RetryOn: "5xx", NumRetries: build.UInt32(2), PerTryTimeout: build.Duration(100 * time.Millisecond),
		}))
	start := time.Now()
	code, _, reason := get(t, s.client, s.url("/slow"))
	if code != http.StatusGatewayTimeout || reason != "request_timeout" {
		t.Fatalf("slow endpoint: %d %q, want 504 request_timeout", code, reason)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("the 200ms route timeout took %s to fire", el)
	}
	for i := range 10 {
		if code, who, reason := get(t, s.client, s.url("/mixed")); code != http.StatusOK || who != "fast" {
			t.Fatalf("request %d: %d from %q (%s); per-try timeout and retry should reach the fast endpoint", i, code, who, reason)
		}
	}
}

func routeWithPrefix(prefix, cluster string, timeout time.Duration, retry *routev3.RetryPolicy) *routev3.Route {
	r := build.RouteToCluster(strings.Trim(prefix, "/"), cluster, timeout)
	r.Match = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}}
	r.GetRoute().RetryPolicy = retry
	return r
}

func TestCircuitBreakerShedsLoad(t *testing.T) {
	s := newScenario(t)
	release := make(chan struct{})
	var inFlight, peak int
	var mu sync.Mutex
	slow := startBackend(t, "slow", func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	c := simpleCluster("web")
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections: build.UInt32(2), MaxRequests: build.UInt32(2), MaxPendingRequests: build.UInt32(1),
	}}}
	s.publish([]*clusterv3.Cluster{c},
		[]*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(slow)...))},
		build.RouteToCluster("default", "web", 10*time.Second))
	results := make(chan string, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			code, _, reason := get(t, s.client, s.url("/"))
			results <- fmt.Sprintf("%d %s", code, reason)
		})
	}
	// Five of eight must be refused at once: 2 in flight, 1 pending.
	shed := 0
	for shed < 5 {
		r := <-results
		if r != "503 overflow_pending" {
			t.Fatalf("got %q before the held requests finished; want 503 overflow_pending", r)
		}
		shed++
	}
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "200 " {
			t.Fatalf("admitted request ended with %q", r)
		}
	}
	if peak > 2 {
		t.Fatalf("%d requests reached the backend at once; the limit is 2", peak)
	}
	if n := s.proxy.metric(t, "plexus_circuit_breaker_overflows_total", "destination_service", "web", "limit", "pending"); n != 5 {
		t.Fatalf("overflow metric = %v, want 5", n)
	}
}

func TestWeightedSplit(t *testing.T) {
	s := newScenario(t)
	stable, canary := startBackend(t, "stable", nil), startBackend(t, "canary", nil)
	r := build.RouteToCluster("split", "", 10*time.Second)
	r.GetRoute().ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
		Clusters: []*routev3.WeightedCluster_ClusterWeight{
			{Name: "stable", Weight: build.UInt32(80)},
			{Name: "canary", Weight: build.UInt32(20)},
		},
	}}
	s.publish([]*clusterv3.Cluster{simpleCluster("stable"), simpleCluster("canary")},
		[]*endpointv3.ClusterLoadAssignment{
			build.LoadAssignment("stable", build.Endpoints(0, "z1", addrs(stable)...)),
			build.LoadAssignment("canary", build.Endpoints(0, "z1", addrs(canary)...)),
		}, r)
	const n = 2000
	got := map[string]int{}
	for range n {
		_, who, _ := get(t, s.client, s.url("/"))
		got[who]++
	}
	// 20% of 2000 is 400 with a standard deviation of about 18: 5 sigma.
	if math.Abs(float64(got["canary"])-400) > 90 {
		t.Fatalf("canary got %d of %d requests (%v), want about 400", got["canary"], n, got)
	}
}
