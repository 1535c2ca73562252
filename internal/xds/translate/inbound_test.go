package translate

import (
	"net/netip"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

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

// TestInboundTrustDomains: a workload's ports accept clients of the mesh's
// own trust domain only, except ports of a Service exported to peer
// clusters, which accept any trust domain the proxy has a bundle for.
func TestInboundTrustDomains(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.21")
	svc := func(name string, exported bool, cluster string, port uint32) *model.Service {
		return &model.Service{
			Key: model.NamespacedName{Namespace: "shop", Name: name}, Exported: exported,
			Ports: []model.ServicePort{{Name: "p", Port: port}},
			Endpoints: []model.Endpoint{{
				Address: addr, Ports: map[string]uint32{"p": port}, Healthy: true,
				Identity: "spiffe://east.example/ns/shop/sa/reviews", Locality: model.Locality{Cluster: cluster},
			}},
		}
	}
	w := &model.Workload{Key: model.NamespacedName{Namespace: "shop", Name: "reviews-1"}, Address: addr, Ports: []model.ServicePort{
		{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP},
		{Name: "admin", Port: 8080, Protocol: model.ProtocolHTTP},
		{Name: "db", Port: 7070, Protocol: model.ProtocolTCP},
	}}
	m := &model.Mesh{
		Settings: model.Settings{ClusterName: "east", TrustDomain: "east.example", MTLS: model.MTLSPermissive},
		Services: []*model.Service{
			svc("reviews", true, "east", 9080),        // exported: peers may call 9080
			svc("reviews-admin", false, "east", 8080), // not exported
			svc("a", true, "west", 7070),              // exported, but a pod of another cluster with the same address
		},
		Workloads: []*model.Workload{w},
	}
	sans := func(m *model.Mesh) map[string][]*tlsv3.SubjectAltNameMatcher {
		t.Helper()
		out := map[string][]*tlsv3.SubjectAltNameMatcher{}
		for _, fc := range Inbound(m, w, nil).Listeners[0].GetFilterChains() {
			ts := fc.GetTransportSocket()
			if ts == nil {
				continue // plaintext (PERMISSIVE)
			}
			ctx := &tlsv3.DownstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
				t.Fatal(err)
			}
			common := ctx.GetCommonTlsContext()
			if common.GetValidationContextSdsSecretConfig().GetName() != RootSecret &&
				common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName() != RootSecret {
				t.Fatalf("%s: clients are not verified against %s: %v", fc.GetName(), RootSecret, common)
			}
			out[fc.GetName()] = common.GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
		}
		return out
	}
	ownOnly := []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: prefix("spiffe://east.example/")}}
	got := sans(m)
	if len(got) != 3 {
		t.Fatalf("mTLS chains %v, want one per port", got)
	}
	for chain, want := range map[string][]*tlsv3.SubjectAltNameMatcher{
		"inbound|9080|mtls": nil,
		"inbound|8080|mtls": ownOnly,
		"inbound|7070|mtls": ownOnly,
	} {
		if diff := cmp.Diff(want, got[chain], protocmp.Transform()); diff != "" {
			t.Errorf("%s client SAN matchers (-want +got):\n%s", chain, diff)
		}
	}
	// Without a trust domain of its own, the mesh restricts nothing.
	m.Settings.TrustDomain = ""
	for chain, matchers := range sans(m) {
		if len(matchers) > 0 {
			t.Errorf("%s without a trust domain: SAN matchers %v", chain, matchers)
		}
	}
}
