package model

import (
	"net/netip"
	"strings"
	"testing"
)

// A peer's import joins a local Service only when that Service is exported
// too; otherwise the peer would add endpoints to a Service this cluster
// keeps to itself.
func TestApplyImportsJoinsExportedServicesOnly(t *testing.T) {
	local := func(name string, exported bool) *Service {
		return &Service{Key: NamespacedName{Namespace: "shop", Name: name}, Exported: exported,
			Ports:     []ServicePort{{Name: "http", Port: 9080, Protocol: ProtocolHTTP}},
			Endpoints: []Endpoint{{Address: netip.MustParseAddr("10.0.0.1"), Ports: map[string]uint32{"http": 9080}, Healthy: true}}}
	}
	imp := func(name string) *Import {
		return &Import{Key: NamespacedName{Namespace: "shop", Name: name}, Cluster: "west", TrustDomain: "west.example",
			Ports:      []ServicePort{{Name: "http", Port: 9080, Protocol: ProtocolHTTP}},
			Gateways:   []netip.AddrPort{netip.MustParseAddrPort("192.0.2.10:15443")},
			Identities: []string{"spiffe://west.example/ns/shop/sa/" + name}}
	}
	m := &Mesh{
		Services: []*Service{local("reviews", true), local("internal", false)},
		Imports:  []*Import{imp("reviews"), imp("internal"), imp("details")},
	}
	m.ApplyImports()
	byName := map[string]*Service{}
	for _, s := range m.Services {
		byName[s.Key.Name] = s
	}
	if n := len(byName["reviews"].Endpoints); n != 2 || byName["reviews"].Endpoints[1].Locality.Cluster != "west" {
		t.Errorf("exported reviews: %d endpoints, want the local one and west's gateway", n)
	}
	if n := len(byName["internal"].Endpoints); n != 1 || len(byName["internal"].Hostnames) != 0 {
		t.Errorf("a Service not exported here took a peer's endpoints or clusterset name: %+v", byName["internal"])
	}
	if d := byName["details"]; d == nil || len(d.Endpoints) != 1 || d.Hostnames[0] != "details.shop.svc.clusterset.local" {
		t.Errorf("details, which only west runs: %+v", d)
	}
	if len(m.Imports) != 2 {
		t.Errorf("%d imports kept, want reviews and details (no ServiceImport for internal)", len(m.Imports))
	}
	if len(m.ImportProblems) != 1 || !strings.Contains(m.ImportProblems[0], "the Service shop/internal here is not exported") {
		t.Errorf("problems %q", m.ImportProblems)
	}
}
