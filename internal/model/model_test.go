package model

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validMesh() *Mesh {
	return &Mesh{
		Settings: Settings{
			ClusterName: "east", Network: "default", TrustDomain: "east.example", MTLS: MTLSStrict,
			Traffic: Traffic{LoadBalancer: RoundRobin, ConnectTimeout: 5 * time.Second},
		},
		Services: []*Service{{
			Key:   NamespacedName{"shop", "reviews"},
			Ports: []ServicePort{{Name: "http", Port: 9080, Protocol: ProtocolHTTP}},
			Endpoints: []Endpoint{{
				Address: netip.MustParseAddr("10.0.0.5"), Ports: map[string]uint32{"http": 9080}, Healthy: true,
			}},
		}},
		Routes: []*Route{{
			Key:     NamespacedName{"shop", "reviews"},
			Parents: []ParentRef{{Service: NamespacedName{"shop", "reviews"}}},
			Rules: []RouteRule{{
				Matches:  []RouteMatch{{Path: &PathMatch{Type: PathPrefix, Value: "/api"}}},
				Backends: []Backend{{Service: NamespacedName{"shop", "reviews"}, Port: 9080, Weight: 1}},
			}},
		}},
		TrafficPolicies:       []*TrafficPolicy{{Key: NamespacedName{"shop", "tp"}, Targets: []PolicyTarget{{Service: NamespacedName{"shop", "reviews"}}}, LoadBalancer: Random}},
		AuthorizationPolicies: []*AuthorizationPolicy{{Key: NamespacedName{"shop", "authz"}, Action: Allow, Rules: []AuthorizationRule{{}}}},
	}
}

func TestValidate(t *testing.T) {
	if err := validMesh().Validate(); err != nil {
		t.Fatalf("valid mesh: %v", err)
	}
	tests := map[string]struct {
		mutate func(*Mesh)
		want   string
	}{
		"no cluster name":       {func(m *Mesh) { m.Settings.ClusterName = "" }, "settings: clusterName is empty"},
		"bad mTLS":              {func(m *Mesh) { m.Settings.MTLS = "OFF" }, `mTLS mode "OFF"`},
		"bad namespace mTLS":    {func(m *Mesh) { m.Settings.NamespaceMTLS = map[string]MTLSMode{"x": "NONE"} }, "namespace x"},
		"no connect timeout":    {func(m *Mesh) { m.Settings.Traffic.ConnectTimeout = 0 }, "connect timeout must be positive"},
		"duplicate service":     {func(m *Mesh) { m.Services = append(m.Services, m.Services[0]) }, "service shop/reviews: defined twice"},
		"port out of range":     {func(m *Mesh) { m.Services[0].Ports[0].Port = 70000 }, "port 70000 is out of range"},
		"endpoint bad port":     {func(m *Mesh) { m.Services[0].Endpoints[0].Ports = map[string]uint32{"grpc": 1} }, `names port "grpc", which the service does not have`},
		"route without parent":  {func(m *Mesh) { m.Routes[0].Parents = nil }, "route shop/reviews: no parent service"},
		"relative path":         {func(m *Mesh) { m.Routes[0].Rules[0].Matches[0].Path.Value = "api" }, `path "api" must start with /`},
		"bad regex":             {func(m *Mesh) { m.Routes[0].Rules[0].Matches[0].Path = &PathMatch{Type: PathRegularExp, Value: "("} }, "path regex"},
		"zero weights":          {func(m *Mesh) { m.Routes[0].Rules[0].Backends[0].Weight = 0 }, "every backend has weight 0"},
		"policy without target": {func(m *Mesh) { m.TrafficPolicies[0].Targets = nil }, "traffic policy shop/tp: no targets"},
		"unknown lb":            {func(m *Mesh) { m.TrafficPolicies[0].LoadBalancer = "Maglev" }, `load balancer "Maglev"`},
		"bad action":            {func(m *Mesh) { m.AuthorizationPolicies[0].Action = "AUDIT" }, `action "AUDIT"`},
		"import from itself": {func(m *Mesh) {
			m.Imports = []*Import{{Key: NamespacedName{Namespace: "shop", Name: "x"}, Cluster: m.Settings.ClusterName}}
		}, "the exporting cluster must be a peer"},
		"import without gateways": {func(m *Mesh) {
			m.Imports = []*Import{{Key: NamespacedName{Namespace: "shop", Name: "x"}, Cluster: "west", Ports: []ServicePort{{Port: 80}}}}
		}, "no gateway addresses"},
		"import foreign identity": {func(m *Mesh) {
			m.Imports = []*Import{{Key: NamespacedName{Namespace: "shop", Name: "x"}, Cluster: "west", TrustDomain: "west.example",
				Ports: []ServicePort{{Port: 80}}, Gateways: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:15443")},
				Identities: []string{"spiffe://east.example/ns/shop/sa/x"}}}
		}, `identity "spiffe://east.example/ns/shop/sa/x" is not in the peer's trust domain "west.example"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := validMesh()
			tc.mutate(m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSortIsDeterministic(t *testing.T) {
	t0 := time.Unix(100, 0)
	mk := func() *Mesh {
		m := validMesh()
		m.Services = []*Service{
			{Key: NamespacedName{"b", "x"}, Endpoints: []Endpoint{{Address: netip.MustParseAddr("10.0.0.9")}, {Address: netip.MustParseAddr("10.0.0.1")}}},
			{Key: NamespacedName{"a", "z"}},
			{Key: NamespacedName{"a", "y"}},
		}
		m.Routes = []*Route{
			{Key: NamespacedName{"a", "new"}, Created: t0.Add(time.Second)},
			{Key: NamespacedName{"b", "old"}, Created: t0},
			{Key: NamespacedName{"a", "old"}, Created: t0},
		}
		return m
	}
	m := mk()
	m.Sort()
	var got []string
	for _, s := range m.Services {
		got = append(got, s.Key.String())
	}
	for _, r := range m.Routes {
		got = append(got, r.Key.String())
	}
	got = append(got, m.Services[2].Endpoints[0].Address.String())
	want := []string{"a/y", "a/z", "b/x", "a/old", "b/old", "a/new", "10.0.0.1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestProtocolFor(t *testing.T) {
	tests := []struct {
		appProtocol, name string
		want              Protocol
	}{
		{"http", "", ProtocolHTTP},
		{"kubernetes.io/h2c", "web", ProtocolHTTP2},
		{"grpc", "", ProtocolGRPC},
		{"kubernetes.io/ws", "", ProtocolHTTP},
		{"https", "http", ProtocolTCP},
		{"", "http-web", ProtocolHTTP},
		{"", "grpc-api", ProtocolGRPC},
		{"", "tcp-db", ProtocolTCP},
		{"", "h2c", ProtocolHTTP2},
		{"", "metrics", ProtocolUnknown},
		{"", "", ProtocolUnknown},
	}
	for _, tc := range tests {
		if got := ProtocolFor(tc.appProtocol, tc.name); got != tc.want {
			t.Errorf("ProtocolFor(%q, %q) = %q, want %q", tc.appProtocol, tc.name, got, tc.want)
		}
	}
}

func TestMTLSFor(t *testing.T) {
	s := Settings{MTLS: MTLSStrict, NamespaceMTLS: map[string]MTLSMode{"legacy": MTLSPermissive}}
	if s.MTLSFor("legacy") != MTLSPermissive || s.MTLSFor("shop") != MTLSStrict {
		t.Fatal("namespace override not applied")
	}
}
