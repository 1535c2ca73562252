// Package dashboardtest is a small two-cluster mesh for the dashboard's
// and plexctl's tests: east runs loadgen, frontend and reviews (v1, and a
// v2 canary through an HTTPRoute), exports reviews, and imports ratings
// from west, reached through west's gateway.
package dashboardtest

import (
	"context"
	"net/netip"
	"time"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// key names an object of the shop namespace.
func key(name string) model.NamespacedName {
	return model.NamespacedName{Namespace: "shop", Name: name}
}

func endpoint(ip, workload, sa string, port uint32) model.Endpoint {
	return model.Endpoint{Address: netip.MustParseAddr(ip), Ports: map[string]uint32{"http": port}, Healthy: true,
		Identity: "spiffe://east.example/ns/shop/sa/" + sa, Workload: key(workload)}
}

// Mesh is east's model.
func Mesh() *model.Mesh {
	http := []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}}
	m := &model.Mesh{
		Settings: model.Settings{ClusterName: "east", TrustDomain: "east.example", MTLS: model.MTLSStrict,
			Traffic: model.Traffic{LoadBalancer: model.RoundRobin, ConnectTimeout: time.Second}},
		Services: []*model.Service{
			{Key: key("frontend"), Hostnames: []string{"frontend.shop.svc.cluster.local"}, VIPs: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
				Ports: []model.ServicePort{{Name: "http", Port: 80, Protocol: model.ProtocolHTTP}}, Endpoints: []model.Endpoint{endpoint("10.0.0.10", "frontend", "frontend", 8080)}},
			{Key: key("reviews"), Hostnames: []string{"reviews.shop.svc.cluster.local", "reviews.shop.svc.clusterset.local"}, VIPs: []netip.Addr{netip.MustParseAddr("10.96.0.20")},
				Ports: http, Exported: true, Endpoints: []model.Endpoint{endpoint("10.0.0.21", "reviews-v1", "reviews", 9080)}},
			{Key: key("reviews-v2"), Hostnames: []string{"reviews-v2.shop.svc.cluster.local"}, VIPs: []netip.Addr{netip.MustParseAddr("10.96.0.21")},
				Ports: http, Endpoints: []model.Endpoint{endpoint("10.0.0.22", "reviews-v2", "reviews", 9080)}},
			{Key: key("ratings"), Hostnames: []string{"ratings.shop.svc.clusterset.local"}, VIPs: []netip.Addr{netip.MustParseAddr("240.240.0.7")},
				Ports: []model.ServicePort{{Name: "grpc", Port: 9090, Protocol: model.ProtocolGRPC}},
				Endpoints: []model.Endpoint{{Address: netip.MustParseAddr("192.0.2.10"), Ports: map[string]uint32{"grpc": 15443}, Healthy: true,
					Locality: model.Locality{Cluster: "west"}, Identities: []string{"spiffe://west.example/ns/shop/sa/ratings"}}}},
			{Key: key("orphan"), Hostnames: []string{"orphan.shop.svc.cluster.local"}, Ports: http},
		},
		Workloads: []*model.Workload{
			{Key: key("frontend"), Name: "frontend", ServiceAccount: "frontend", Address: netip.MustParseAddr("10.0.0.10"), Labels: map[string]string{"app": "frontend"}},
			{Key: key("reviews-v1"), Name: "reviews-v1", ServiceAccount: "reviews", Address: netip.MustParseAddr("10.0.0.21"), Labels: map[string]string{"app": "reviews"}},
			{Key: key("reviews-v2"), Name: "reviews-v2", ServiceAccount: "reviews", Address: netip.MustParseAddr("10.0.0.22"), Labels: map[string]string{"app": "reviews"}},
		},
		Routes: []*model.Route{{Key: key("reviews-canary"), Parents: []model.ParentRef{{Service: key("reviews")}},
			Rules: []model.RouteRule{{Backends: []model.Backend{{Service: key("reviews"), Port: 9080, Weight: 90}, {Service: key("reviews-v2"), Port: 9080, Weight: 10}},
				Timeout: 2 * time.Second}}}},
		TrafficPolicies: []*model.TrafficPolicy{{Key: key("reviews-resilience"), Targets: []model.PolicyTarget{{Service: key("reviews")}},
			Retries: &model.Retries{Attempts: 3, On: []string{"5xx"}}, OutlierDetection: &model.OutlierDetection{Consecutive5xx: 5}}},
		AuthorizationPolicies: []*model.AuthorizationPolicy{{Key: key("reviews-callers"), Targets: []model.NamespacedName{key("reviews")},
			Action: model.Allow, Rules: []model.AuthorizationRule{{From: []model.AuthorizationSource{{Namespaces: []string{"shop"}}}}}}},
		Imports: []*model.Import{{Key: key("ratings"), Cluster: "west", TrustDomain: "west.example",
			Ports: []model.ServicePort{{Name: "grpc", Port: 9090, Protocol: model.ProtocolGRPC}}, Gateways: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.10:15443")}}},
	}
	m.Sort()
	if err := m.Validate(); err != nil {
		panic("dashboardtest: the fixture mesh does not validate: " + err.Error())
	}
	return m
}

// Snapshot is east's control plane: the mesh, its proxies (one with an
// upstream that names no service) and its peer west.
func Snapshot() dashboard.Snapshot {
	return dashboard.Snapshot{
		Mesh: Mesh(),
		Proxies: map[string]nodemeta.Metadata{
			"frontend-1.shop": {Workload: "frontend", Namespace: "shop", ServiceAccount: "frontend", Cluster: "east", IP: "10.0.0.10", MetricsAddress: ":15020",
				Interception: nodemeta.InterceptionNone, AppAddress: "127.0.0.1",
				Upstreams: []nodemeta.Upstream{{Namespace: "shop", Service: "nowhere", Port: 80, Bind: netip.MustParseAddrPort("10.0.0.10:19999")}}},
			"reviews-v1-1.shop":     {Workload: "reviews-v1", Namespace: "shop", ServiceAccount: "reviews", Cluster: "east", IP: "10.0.0.21"},
			"gateway.plexus-system": {Workload: "gateway", Namespace: "plexus-system", ServiceAccount: "gateway", Cluster: "east", IP: "10.0.0.2", Role: nodemeta.RoleGateway},
		},
		Peers: []dashboard.Peer{{Name: "west", Cluster: "west", TrustDomain: "west.example", Connected: true, Imports: 1, Gateways: []string{"192.0.2.10:15443"}}},
	}
}

// Edges are east's signals: loadgen → frontend, frontend → reviews and
// reviews-v2 (the canary), frontend → ratings in west (failing).
func Edges() []dashboard.EdgeStats {
	edge := func(from, svc, cluster string, rps, errs, p99 float64) dashboard.EdgeStats {
		return dashboard.EdgeStats{SourceWorkload: from, SourceNamespace: "shop", SourceCluster: "east", Service: svc, Namespace: "shop", Cluster: cluster,
			Signals: dashboard.Signals{RPS: rps, ErrorRate: errs, P50: p99 / 4, P99: p99}}
	}
	return []dashboard.EdgeStats{
		edge("loadgen", "frontend", "east", 10, 0, 40),
		edge("frontend", "reviews", "east", 9, 0.02, 20),
		edge("frontend", "reviews-v2", "east", 1, 0, 25),
		edge("frontend", "ratings", "west", 10, 0.5, 80),
	}
}

// Metrics serves Edges, and a flat series for every service.
type Metrics struct{ EdgeList []dashboard.EdgeStats }

// Name implements dashboard.Metrics.
func (Metrics) Name() string { return "fixture" }

// Edges implements dashboard.Metrics.
func (f Metrics) Edges(context.Context, time.Duration) ([]dashboard.EdgeStats, error) {
	return f.EdgeList, nil
}

// Series implements dashboard.Metrics.
func (Metrics) Series(_ context.Context, _ dashboard.ServiceKey, span, step time.Duration) (*dashboard.Series, error) {
	s := &dashboard.Series{Step: dashboard.Seconds(step)}
	start := time.Now().Add(-span).Unix()
	for t := int64(0); t < int64(span/step); t++ {
		s.Times = append(s.Times, start+t*int64(step/time.Second))
		s.RPS, s.ErrorRate = append(s.RPS, 9), append(s.ErrorRate, 0.02)
		s.P50, s.P99 = append(s.P50, 5), append(s.P99, 20)
	}
	return s, nil
}
