package nodemeta

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseUpstreams(t *testing.T) {
	ip := netip.MustParseAddr("127.0.1.11")
	got, err := ParseUpstreams("reviews:9080=19080, billing/payments:443=127.0.0.5:1443", "shop", ip)
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatUpstreams(got); s != "shop/reviews:9080=127.0.1.11:19080,billing/payments:443=127.0.0.5:1443" {
		t.Errorf("parsed %s", s)
	}
	// FormatUpstreams round-trips, with no defaults needed.
	again, err := ParseUpstreams(FormatUpstreams(got), "", netip.Addr{})
	if err != nil || FormatUpstreams(again) != FormatUpstreams(got) {
		t.Errorf("round trip: %v, %v", again, err)
	}
	for in, want := range map[string]string{
		"reviews":                     "want NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT",
		"reviews=19080":               "want NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT",
		"Reviews:9080=19080":          `"Reviews" is not NAMESPACE/SERVICE`,
		"reviews:0=19080":             `service port "0" is not in 1-65535`,
		"reviews:9080=local":          `local address "local"`,
		"reviews:9080=1,ratings:80=1": "127.0.1.11:1 is already the address of reviews:9080=1",
	} {
		if _, err := ParseUpstreams(in, "shop", ip); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if _, err := ParseUpstreams("reviews:9080=19080", "shop", netip.Addr{}); err == nil || !strings.Contains(err.Error(), "no IP to listen on") {
		t.Errorf("a local port without an IP: %v", err)
	}
}

func TestValidateInterception(t *testing.T) {
	who := func(m Metadata) Metadata {
		m.Workload, m.Namespace, m.ServiceAccount = "frontend", "shop", "frontend"
		return m
	}
	ups := func(s string) []Upstream {
		u, err := ParseUpstreams(s, "shop", netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ok := who(Metadata{Interception: InterceptionNone, IP: "127.0.1.11", AppAddress: "127.0.2.11", Ports: []Port{{Port: 8080}}, Upstreams: ups("reviews:9080=19080")})
	if err := ok.ValidateInterception(); err != nil {
		t.Fatal(err)
	}
	for want, m := range map[string]Metadata{
		`is not "iptables" or "none"`:                                     {Interception: "ebpf"},
		"upstreams and the application address are for interception none": {AppAddress: "127.0.2.11"},
		"interception none needs the workload":                            {Interception: InterceptionNone},
		"takes inbound traffic on the workload's IP":                      who(Metadata{Interception: InterceptionNone, AppAddress: "127.0.2.11", Ports: []Port{{Port: 8080}}}),
		"give the workload's own address":                                 who(Metadata{Interception: InterceptionNone, IP: "0.0.0.0", AppAddress: "127.0.2.11", Ports: []Port{{Port: 8080}}}),
		"is not an IP (give a loopback address":                           who(Metadata{Interception: InterceptionNone, IP: "127.0.1.11", Ports: []Port{{Port: 8080}}}),
		"give the application another address":                            who(Metadata{Interception: InterceptionNone, IP: "127.0.1.11", AppAddress: "127.0.1.11", Ports: []Port{{Port: 8080}}}),
		// Routable addresses would let clients past the proxy, or call
		// services as the workload.
		"clients could reach the application past the proxy":    who(Metadata{Interception: InterceptionNone, IP: "10.0.0.5", AppAddress: "10.0.0.6", Ports: []Port{{Port: 8080}}}),
		"whoever reaches it would call shop/reviews":            who(Metadata{Interception: InterceptionNone, Upstreams: ups("reviews:9080=10.0.0.5:19080")}),
		"inbound port 9080 and upstream shop/reviews both want": who(Metadata{Interception: InterceptionNone, IP: "127.0.1.11", AppAddress: "127.0.2.11", Ports: []Port{{Port: 9080}}, Upstreams: ups("reviews:9080=127.0.1.11:9080")}),
	} {
		if err := m.ValidateInterception(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", m, err, want)
		}
	}
	// The metadata carries it all to the control plane.
	back, err := FromStruct(ok.Struct())
	if err != nil || back.Interception != InterceptionNone || back.AppAddress != ok.AppAddress || FormatUpstreams(back.Upstreams) != FormatUpstreams(ok.Upstreams) {
		t.Errorf("round trip through the node struct: %+v, %v", back, err)
	}
}

func TestMetricsURL(t *testing.T) {
	for addr, want := range map[string]string{
		":15020":          "http://10.0.0.7:15020/metrics",
		"0.0.0.0:15020":   "http://10.0.0.7:15020/metrics",
		"127.0.1.11:1500": "http://127.0.1.11:1500/metrics",
		"":                "",
		"15020":           "",
	} {
		m := Metadata{IP: "10.0.0.7", MetricsAddress: addr}
		if got := m.MetricsURL(); got != want {
			t.Errorf("%q: %q, want %q", addr, got, want)
		}
	}
}
