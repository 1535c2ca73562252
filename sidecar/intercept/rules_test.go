package intercept

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	c := Config{
		ProxyUID: 1337, ProxyGID: 1337,
		InboundPorts:         []int{9090, 8080},
		ExcludeInboundPorts:  []int{15020},
		ExcludeOutboundPorts: []int{53},
		ExcludeOutboundCIDRs: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")},
		IncludeOutboundCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := `*nat
:PLEXUS_INBOUND - [0:0]
:PLEXUS_IN_REDIRECT - [0:0]
:PLEXUS_OUTPUT - [0:0]
:PLEXUS_REDIRECT - [0:0]
-A PLEXUS_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PLEXUS_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A PREROUTING -p tcp -j PLEXUS_INBOUND
-A PLEXUS_INBOUND -p tcp --dport 15020 -j RETURN
-A PLEXUS_INBOUND -p tcp --dport 8080 -j PLEXUS_IN_REDIRECT
-A PLEXUS_INBOUND -p tcp --dport 9090 -j PLEXUS_IN_REDIRECT
-A OUTPUT -p tcp -j PLEXUS_OUTPUT
-A PLEXUS_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A PLEXUS_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A PLEXUS_OUTPUT -d 127.0.0.1/32 -j RETURN
-A PLEXUS_OUTPUT -o lo -j RETURN
-A PLEXUS_OUTPUT -p tcp --dport 53 -j RETURN
-A PLEXUS_OUTPUT -d 169.254.169.254/32 -j RETURN
-A PLEXUS_OUTPUT -d 10.0.0.0/8 -j PLEXUS_REDIRECT
COMMIT
`
	if got := Rules(c); got != want {
		t.Fatalf("rules:\n%s\nwant:\n%s", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		c    Config
		want string
	}{
		"no uid":        {Config{ProxyUID: -1}, "the proxy's UID is required"},
		"bad port":      {Config{ProxyUID: 1, InboundPorts: []int{70000}}, "port 70000 is out of range"},
		"ipv6 cidr":     {Config{ProxyUID: 1, ExcludeOutboundCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, "only IPv4"},
		"defaults fine": {Config{ProxyUID: 1}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.want == "" {
				if err != nil || tc.c.InboundPort != 15006 || tc.c.OutboundPort != 15001 {
					t.Fatalf("err %v, ports %d %d", err, tc.c.InboundPort, tc.c.OutboundPort)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	if _, err := ParsePorts("80,x"); err == nil || !strings.Contains(err.Error(), `port "x"`) {
		t.Fatalf("ParsePorts: %v", err)
	}
	if p, err := ParseCIDRs("10.1.2.3/8, 192.168.0.1/32"); err != nil || p[0].String() != "10.0.0.0/8" || len(p) != 2 {
		t.Fatalf("ParseCIDRs: %v %v", p, err)
	}
	if _, err := ParseCIDRs("10.0.0.0/33"); err == nil {
		t.Fatal("ParseCIDRs accepted /33")
	}
}
