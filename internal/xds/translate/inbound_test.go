package translate

import (
	"net/netip"
	"testing"

	"github.com/plexus-mesh/plexus/internal/model"
)

func TestInboundServiceIsStableAndLocal(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.21")
	other := netip.MustParseAddr("10.0.0.22")
	svc := func(name string, cluster string, addrs ...netip.Addr) *model.Service {
		s := &model.Service{Key: model.NamespacedName{Namespace: "shop", Name: name}, Ports: []model.ServicePort{{Name: "http", Port: 80}}}
		for _, a := range addrs {
			s.Endpoints = append(s.Endpoints, model.Endpoint{Address: a, Ports: map[string]uint32{"http": 9080}, Locality: model.Locality{Cluster: cluster}})
		}
		return s
	}
	m := &model.Mesh{Settings: model.Settings{ClusterName: "east"}, Services: []*model.Service{
		svc("a", "west", addr),              // another cluster's pod with the same address
		svc("reviews-v1", "east", addr),     // narrower, longer name
		svc("reviews", "east", addr, other), // the one
		svc("ratings", "east", other),       // does not select w
	}}
	w := &model.Workload{Key: model.NamespacedName{Namespace: "shop", Name: "reviews-v1-abc"}, Address: addr}
	if got := inboundService(m, w, 9080); got == nil || got.Key.Name != "reviews" {
		t.Fatalf("inbound service %v, want reviews", got)
	}
	// An instance leaving reviews does not move the choice.
	m.Services[2].Endpoints = m.Services[2].Endpoints[:1]
	if got := inboundService(m, w, 9080); got == nil || got.Key.Name != "reviews" {
		t.Fatalf("inbound service %v after a scale-down, want reviews", got)
	}
	if got := inboundService(m, w, 8080); got != nil {
		t.Fatalf("port 8080 serves no Service, got %v", got.Key)
	}
}

// A gateway given the operator's federation address carries peers'
// operators to it by the trust domain's federation server name.
func TestGatewayCarriesTheFederationAPI(t *testing.T) {
	m := &model.Mesh{Settings: model.Settings{ClusterName: "west", TrustDomain: "west.example", FederationAddress: "10.96.0.17:15017"}}
	r := Gateway(m, "")
	if len(r.Listeners) != 1 || len(r.Listeners[0].GetFilterChains()) != 1 {
		t.Fatalf("listeners %v", r.Listeners)
	}
	fc := r.Listeners[0].GetFilterChains()[0]
	if got := fc.GetFilterChainMatch().GetServerNames(); len(got) != 1 || got[0] != "federation.west.example" {
		t.Errorf("server names %v", got)
	}
	if len(r.Clusters) != 1 || r.Clusters[0].GetName() != FederationCluster ||
		r.Clusters[0].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress() != "10.96.0.17" {
		t.Errorf("clusters %v", r.Clusters)
	}
	// Without it, the gateway carries services only.
	m.Settings.FederationAddress = ""
	if r := Gateway(m, ""); len(r.Listeners[0].GetFilterChains()) != 0 || len(r.Clusters) != 0 {
		t.Errorf("a gateway without a federation address: %v", r)
	}
}
