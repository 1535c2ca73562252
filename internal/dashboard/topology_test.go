package dashboard_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/dashboard/dashboardtest"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

func node(t *testing.T, topo dashboard.Topology, id string) dashboard.Node {
	t.Helper()
	i := slices.IndexFunc(topo.Nodes, func(n dashboard.Node) bool { return n.ID == id })
	if i < 0 {
		var ids []string
		for _, n := range topo.Nodes {
			ids = append(ids, n.ID)
		}
		t.Fatalf("no node %s in %s", id, strings.Join(ids, ", "))
	}
	return topo.Nodes[i]
}

func edge(topo dashboard.Topology, from, to string) *dashboard.Edge {
	for i, e := range topo.Edges {
		if e.Source == from && e.Target == to {
			return &topo.Edges[i]
		}
	}
	return nil
}

func TestBuildTopology(t *testing.T) {
	topo := dashboard.BuildTopology(dashboardtest.Snapshot(), dashboardtest.Edges(), time.Unix(1, 0), time.Minute)
	if topo.Cluster != "east" || topo.Window != "1m" || len(topo.Clusters) != 2 || !topo.Clusters[0].Local || topo.Clusters[1].Name != "west" {
		t.Fatalf("clusters %+v (window %q)", topo.Clusters, topo.Window)
	}
	if topo.Clusters[0].Gateway != "gateway:east" || topo.Clusters[1].Gateway != "gateway:west" || !topo.Clusters[1].Connected ||
		len(topo.Clusters[0].Gateways) != 1 || topo.Clusters[0].Gateways[0] != "10.0.0.2:15443" {
		t.Errorf("gateways %+v", topo.Clusters)
	}
	frontend := dashboard.ServiceID("east", "shop", "frontend")
	reviews := node(t, topo, dashboard.ServiceID("east", "shop", "reviews"))
	if !reviews.Exported || reviews.Endpoints != 1 || reviews.HealthyEndpoints != 1 || reviews.MTLS != "STRICT" || reviews.Health != dashboard.HealthWarning {
		t.Errorf("reviews %+v", reviews)
	}
	ratings := node(t, topo, dashboard.ServiceID("west", "shop", "ratings"))
	if !ratings.Imported || ratings.Cluster != "west" || ratings.Health != dashboard.HealthError {
		t.Errorf("west's ratings %+v", ratings)
	}
	// Only peers run ratings: east has no node of its own for it.
	if slices.ContainsFunc(topo.Nodes, func(n dashboard.Node) bool { return n.ID == dashboard.ServiceID("east", "shop", "ratings") }) {
		t.Error("a service only west runs is drawn in east too")
	}
	// loadgen serves no Service: it is a workload node; frontend's proxy
	// stands for the frontend service.
	loadgen := dashboard.WorkloadID("east", "shop", "loadgen")
	if n := node(t, topo, loadgen); n.Kind != dashboard.KindWorkload {
		t.Errorf("loadgen %+v", n)
	}
	if e := edge(topo, loadgen, frontend); e == nil || e.Health != dashboard.HealthOK || e.Signals.RPS != 10 {
		t.Errorf("loadgen → frontend: %+v", e)
	}
	cross := edge(topo, frontend, ratings.ID)
	if cross == nil || cross.Via != "gateway:west" || cross.Health != dashboard.HealthError || cross.Signals.ErrorRate != 0.5 {
		t.Errorf("frontend → ratings through west's gateway: %+v", cross)
	}
	if e := edge(topo, frontend, reviews.ID); e == nil || e.Via != "" || e.Health != dashboard.HealthWarning {
		t.Errorf("frontend → reviews: %+v", e)
	}
	// A Service with no endpoints is drawn idle; one whose endpoints are
	// all unhealthy is an error.
	if n := node(t, topo, dashboard.ServiceID("east", "shop", "orphan")); n.Health != dashboard.HealthIdle || n.Endpoints != 0 {
		t.Errorf("orphan %+v", n)
	}
	snap := dashboardtest.Snapshot()
	snap.Mesh.Service(model.NamespacedName{Namespace: "shop", Name: "reviews-v2"}).Endpoints[0].Healthy = false
	topo = dashboard.BuildTopology(snap, nil, time.Now(), time.Minute)
	if n := node(t, topo, dashboard.ServiceID("east", "shop", "reviews-v2")); n.Health != dashboard.HealthError {
		t.Errorf("reviews-v2 with no healthy endpoint: %+v", n)
	}
}

// Requests a caller's proxy answered itself, finding no service, draw no
// edge and no made-up cluster.
func TestBuildTopologyLeavesOutUnroutedRequests(t *testing.T) {
	edges := append(dashboardtest.Edges(), dashboard.EdgeStats{SourceWorkload: "frontend", SourceNamespace: "shop", SourceCluster: "east",
		Service: "unknown", Namespace: "unknown", Cluster: "unknown", Signals: dashboard.Signals{RPS: 3, ErrorRate: 1}})
	topo := dashboard.BuildTopology(dashboardtest.Snapshot(), edges, time.Now(), time.Minute)
	for _, c := range topo.Clusters {
		if c.Name == "unknown" {
			t.Errorf("a cluster made up for unrouted requests: %+v", c)
		}
	}
	if len(topo.Edges) != len(dashboardtest.Edges()) {
		t.Errorf("%d edges, want %d", len(topo.Edges), len(dashboardtest.Edges()))
	}
}

func TestBuildTopologyIsStable(t *testing.T) {
	a := dashboard.BuildTopology(dashboardtest.Snapshot(), dashboardtest.Edges(), time.Unix(1, 0), time.Minute)
	for range 20 {
		b := dashboard.BuildTopology(dashboardtest.Snapshot(), dashboardtest.Edges(), time.Unix(1, 0), time.Minute)
		if !slices.EqualFunc(a.Nodes, b.Nodes, func(x, y dashboard.Node) bool { return x.ID == y.ID }) ||
			!slices.EqualFunc(a.Edges, b.Edges, func(x, y dashboard.Edge) bool { return x.Source == y.Source && x.Target == y.Target }) {
			t.Fatal("the topology's order changes between builds: the UI would jump")
		}
	}
}

func TestBuildService(t *testing.T) {
	snap := dashboardtest.Snapshot()
	topo := dashboard.BuildTopology(snap, dashboardtest.Edges(), time.Now(), time.Minute)
	d := dashboard.BuildService(snap, topo, dashboard.ServiceKey{Cluster: "east", Namespace: "shop", Name: "reviews"})
	if d == nil {
		t.Fatal("no reviews")
	}
	if len(d.Endpoints) != 1 || d.Endpoints[0].Workload != "reviews-v1" || d.Endpoints[0].Identity != "spiffe://east.example/ns/shop/sa/reviews" {
		t.Errorf("endpoints %+v", d.Endpoints)
	}
	if len(d.Routes) != 1 || d.Routes[0].Rules[0] != "every request → reviews:9080 90%, reviews-v2:9080 10% · timeout 2s" {
		t.Errorf("routes %+v", d.Routes)
	}
	var kinds []string
	for _, p := range d.Policies {
		kinds = append(kinds, p.Kind+" "+p.Summary)
	}
	if len(kinds) != 2 || kinds[0] != "TrafficPolicy 3 retries on 5xx · outlier detection (5 consecutive 5xx)" || kinds[1] != "AuthorizationPolicy ALLOW, 1 rules" {
		t.Errorf("policies %q", kinds)
	}
	if len(d.Callers) != 1 || len(d.Identities) != 1 || d.Addresses[0] != "10.96.0.20" {
		t.Errorf("callers %+v, identities %v, addresses %v", d.Callers, d.Identities, d.Addresses)
	}
	// West's ratings: its gateway stands for its endpoints, with the
	// identities behind it.
	r := dashboard.BuildService(snap, topo, dashboard.ServiceKey{Cluster: "west", Namespace: "shop", Name: "ratings"})
	if r == nil || len(r.Endpoints) != 1 || !r.Endpoints[0].Gateway || r.Identities[0] != "spiffe://west.example/ns/shop/sa/ratings" || r.Hostnames[0] != "ratings.shop.svc.clusterset.local" {
		t.Errorf("ratings %+v", r)
	}
	if dashboard.BuildService(snap, topo, dashboard.ServiceKey{Cluster: "east", Namespace: "shop", Name: "nope"}) != nil {
		t.Error("a service that does not exist")
	}
}

func TestBuildChecks(t *testing.T) {
	snap := dashboardtest.Snapshot()
	snap.Peers[0].Connected, snap.Peers[0].Error = false, "connection refused"
	twin := snap.Proxies["reviews-v1-1.shop"]
	twin.Workload = "reviews-twin"
	snap.Proxies["reviews-v1-2.shop"] = twin
	fe := snap.Proxies["frontend-1.shop"]
	fe.Egress = "./reviews" // ratings is out of its egress rules
	fe.Upstreams = append(fe.Upstreams, nodemeta.Upstream{Namespace: "shop", Service: "ratings", Port: 9090, Bind: netip.MustParseAddrPort("127.0.0.1:19090")})
	snap.Proxies["frontend-1.shop"] = fe
	checks := dashboard.BuildChecks(snap, []dashboard.NACK{{Proxy: "reviews-v1-1.shop", Type: "listeners", Message: "port 9080 in use"}})
	want := map[string]string{
		"service shop/orphan":     "no endpoints",
		"peer west":               "not connected: connection refused",
		"proxy reviews-v1-1.shop": "refused its listeners configuration: port 9080 in use",
		"proxy frontend-1.shop":   "upstream shop/nowhere:80 is not a service port",
		"proxy reviews-v1-2.shop": "has the address 10.0.0.21 in namespace shop, as proxy reviews-v1-1.shop does",
		"routes":                  "no problem found",
	}
	if !slices.ContainsFunc(checks, func(c dashboard.Check) bool {
		return c.Name == "proxy frontend-1.shop" && strings.Contains(c.Message, `shop/ratings:9090 is not a service port this proxy can reach: it is not visible from namespace "shop"`)
	}) {
		t.Errorf("an upstream outside the proxy's egress rules is not reported: %+v", checks)
	}
	for name, msg := range want {
		if !slices.ContainsFunc(checks, func(c dashboard.Check) bool { return c.Name == name && strings.Contains(c.Message, msg) }) {
			t.Errorf("no check %q saying %q in %+v", name, msg, checks)
		}
	}
	for _, c := range checks {
		if c.Status != dashboard.CheckOK && c.Fix == "" && !strings.HasPrefix(c.Name, "imports") {
			t.Errorf("%s says what is wrong but not how to fix it", c.Name)
		}
	}
	if checks := dashboard.BuildChecks(dashboard.Snapshot{}, nil); len(checks) != 1 || checks[0].Status != dashboard.CheckError {
		t.Errorf("without a Mesh: %+v", checks)
	}
}
