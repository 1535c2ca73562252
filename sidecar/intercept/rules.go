// Package intercept sets up transparent traffic interception for a pod:
// iptables NAT rules that redirect the application's inbound and outbound
// TCP to the sidecar, and remove them again. It is what
// "plexus-proxy init" runs, as an init container, before the application
// starts.
package intercept

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Chains Plexus owns in the nat table.
const (
	chainInbound         = "PLEXUS_INBOUND"
	chainInboundRedirect = "PLEXUS_IN_REDIRECT"
	chainOutput          = "PLEXUS_OUTPUT"
	chainRedirect        = "PLEXUS_REDIRECT"
)

// Config says what to redirect.
type Config struct {
	// ProxyUID is the user the proxy runs as; its own connections are never
	// redirected (that would loop). Required.
	ProxyUID int
	// ProxyGID, when set, also exempts connections of this group.
	ProxyGID int
	// InboundPort receives redirected inbound connections. Default: 15006.
	InboundPort int
	// OutboundPort receives redirected outbound connections. Default: 15001.
	OutboundPort int
	// InboundPorts limits inbound redirection to these ports; empty means
	// every port except ExcludeInboundPorts.
	InboundPorts []int
	// ExcludeInboundPorts are never redirected inbound (health checks the
	// kubelet must reach directly, the proxy's admin port).
	ExcludeInboundPorts []int
	// ExcludeOutboundPorts are never redirected outbound.
	ExcludeOutboundPorts []int
	// ExcludeOutboundCIDRs are destinations reached directly.
	ExcludeOutboundCIDRs []netip.Prefix
	// IncludeOutboundCIDRs, when set, limits outbound redirection to these
	// destinations.
	IncludeOutboundCIDRs []netip.Prefix
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.InboundPort == 0 {
		c.InboundPort = 15006
	}
	if c.OutboundPort == 0 {
		c.OutboundPort = 15001
	}
	var errs []error
	if c.ProxyUID < 0 {
		errs = append(errs, errors.New("the proxy's UID is required: its own traffic must not be redirected back to it"))
	}
	for _, p := range append(append(append([]int{c.InboundPort, c.OutboundPort}, c.InboundPorts...), c.ExcludeInboundPorts...), c.ExcludeOutboundPorts...) {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %d is out of range 1-65535", p))
		}
	}
	for _, p := range append(append([]netip.Prefix(nil), c.ExcludeOutboundCIDRs...), c.IncludeOutboundCIDRs...) {
		if !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("CIDR %s: only IPv4 is redirected by these rules", p))
		}
	}
	return errors.Join(errs...)
}

// Rules renders the rules as iptables-restore input for the nat table. It
// is pure, so the exact rules are tested without touching a kernel.
func Rules(c Config) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("*nat")
	for _, ch := range []string{chainInbound, chainInboundRedirect, chainOutput, chainRedirect} {
		w(":%s - [0:0]", ch)
	}
	w("-A %s -p tcp -j REDIRECT --to-ports %d", chainInboundRedirect, c.InboundPort)
	w("-A %s -p tcp -j REDIRECT --to-ports %d", chainRedirect, c.OutboundPort)

	// Inbound: connections arriving at the pod.
	w("-A PREROUTING -p tcp -j %s", chainInbound)
	for _, p := range sorted(c.ExcludeInboundPorts) {
		w("-A %s -p tcp --dport %d -j RETURN", chainInbound, p)
	}
	if len(c.InboundPorts) == 0 {
		// The proxy's own ports must stay reachable.
		w("-A %s -p tcp --dport %d -j RETURN", chainInbound, c.InboundPort)
		w("-A %s -p tcp --dport %d -j RETURN", chainInbound, c.OutboundPort)
		w("-A %s -p tcp -j %s", chainInbound, chainInboundRedirect)
	} else {
		for _, p := range sorted(c.InboundPorts) {
			w("-A %s -p tcp --dport %d -j %s", chainInbound, p, chainInboundRedirect)
		}
	}

	// Outbound: connections the pod's processes open.
	w("-A OUTPUT -p tcp -j %s", chainOutput)
	w("-A %s -m owner --uid-owner %d -j RETURN", chainOutput, c.ProxyUID)
	if c.ProxyGID > 0 {
		w("-A %s -m owner --gid-owner %d -j RETURN", chainOutput, c.ProxyGID)
	}
	// Loopback stays local: the app calling itself, or the proxy's
	// explicit localhost listeners.
	w("-A %s -d 127.0.0.1/32 -j RETURN", chainOutput)
	w("-A %s -o lo -j RETURN", chainOutput)
	for _, p := range sorted(c.ExcludeOutboundPorts) {
		w("-A %s -p tcp --dport %d -j RETURN", chainOutput, p)
	}
	for _, p := range c.ExcludeOutboundCIDRs {
		w("-A %s -d %s -j RETURN", chainOutput, p)
	}
	if len(c.IncludeOutboundCIDRs) == 0 {
		w("-A %s -j %s", chainOutput, chainRedirect)
	} else {
		for _, p := range c.IncludeOutboundCIDRs {
			w("-A %s -d %s -j %s", chainOutput, p, chainRedirect)
		}
	}
	w("COMMIT")
	return b.String()
}

func sorted(ports []int) []int {
	out := append([]int(nil), ports...)
	sort.Ints(out)
	return out
}

// ParsePorts parses "15020,8081".
func ParsePorts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q: want a number from 1 to 65535", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseCIDRs parses "10.0.0.0/8,192.168.1.1/32".
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("CIDR %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
