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
	ok := Metadata{Interception: InterceptionNone, IP: "127.0.1.11", AppAddress: "127.0.2.11", Ports: []Port{{Port: 8080}}}
	if err := ok.ValidateInterception(); err != nil {
		t.Fatal(err)
	}
	for want, m := range map[string]Metadata{
		"is not \"iptables\" or \"none\"":                                 {Interception: "ebpf"},
		"upstreams and the application address are for interception none": {AppAddress: "127.0.2.11"},
		"takes inbound traffic on the workload's IP":                      {Interception: InterceptionNone, AppAddress: "127.0.2.11", Ports: []Port{{Port: 8080}}},
		"is not an IP (give a loopback address":                           {Interception: InterceptionNone, IP: "127.0.1.11", Ports: []Port{{Port: 8080}}},
		"give the application another address":                            {Interception: InterceptionNone, IP: "127.0.1.11", AppAddress: "127.0.1.11", Ports: []Port{{Port: 8080}}},
	} {
		if err := m.ValidateInterception(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", m, err, want)
		}
	}
	// The metadata carries it all to the control plane.
	ok.Workload, ok.Namespace, ok.ServiceAccount = "frontend", "shop", "frontend"
	ok.Upstreams, _ = ParseUpstreams("reviews:9080=19080", "shop", netip.MustParseAddr(ok.IP))
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
