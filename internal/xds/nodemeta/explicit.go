package nodemeta

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Interception modes: how traffic reaches the proxy.
const (
	// InterceptionIPTables (the default): iptables rules redirect the
	// workload's connections to the proxy's capture ports.
	InterceptionIPTables = "iptables"
	// InterceptionNone: no redirection. The proxy takes inbound traffic on
	// the workload's address (IP) at each application port and delivers it
	// to the application at AppAddress; the application calls the
	// services it needs at the local addresses Upstreams give them. This is
	// how proxies run beside processes that share a network namespace, as
	// on a VM or in local mode on one machine, without privileges.
	InterceptionNone = "none"
)

// Upstream is a service the application calls at a local address of its
// proxy, when nothing redirects its traffic (InterceptionNone).
type Upstream struct {
	Namespace, Service string
	// Port is the service port.
	Port uint32
	// Bind is where the proxy listens for the application.
	Bind netip.AddrPort
}

func (u Upstream) String() string {
	return fmt.Sprintf("%s/%s:%d=%s", u.Namespace, u.Service, u.Port, u.Bind)
}

// ParseUpstreams parses "NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT,...": the
// namespace defaults to namespace, the IP to defaultIP (a proxy gives
// 127.0.0.1: upstream listeners must not be reachable from the network).
func ParseUpstreams(s, namespace string, defaultIP netip.Addr) ([]Upstream, error) {
	var out []Upstream
	var errs []error
	seen := map[netip.AddrPort]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		u, err := parseUpstream(item, namespace, defaultIP)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: %w", item, err))
			continue
		}
		if other, dup := seen[u.Bind]; dup {
			errs = append(errs, fmt.Errorf("upstream %q: %s is already the address of %s", item, u.Bind, other))
			continue
		}
		seen[u.Bind] = item
		out = append(out, u)
	}
	return out, errors.Join(errs...)
}

// dnsLabel is a Kubernetes namespace or Service name (the proxy links no
// Kubernetes library to check it).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

const upstreamForm = "want NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT, such as shop/reviews:9080=19080"

func parseUpstream(item, namespace string, defaultIP netip.Addr) (Upstream, error) {
	target, bind, ok := strings.Cut(item, "=")
	if !ok {
		return Upstream{}, errors.New(upstreamForm)
	}
	name, port, ok := strings.Cut(target, ":")
	if !ok {
		return Upstream{}, errors.New(upstreamForm)
	}
	u := Upstream{Namespace: namespace, Service: name}
	if ns, svc, ok := strings.Cut(name, "/"); ok {
		u.Namespace, u.Service = ns, svc
	}
	if !dnsLabel.MatchString(u.Namespace) || !dnsLabel.MatchString(u.Service) {
		return Upstream{}, fmt.Errorf("%q is not NAMESPACE/SERVICE: each must be a DNS label (lower case letters, digits and '-', at most 63)", name)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return Upstream{}, fmt.Errorf("service port %q is not in 1-65535", port)
	}
	u.Port = uint32(p)
	if ap, err := netip.ParseAddrPort(bind); err == nil {
		u.Bind = ap
	} else if lp, err := strconv.ParseUint(bind, 10, 16); err == nil && lp > 0 {
		if !defaultIP.IsValid() {
			return Upstream{}, errors.New("no IP to listen on: give IP:LOCALPORT, or the proxy's --ip")
		}
		u.Bind = netip.AddrPortFrom(defaultIP, uint16(lp))
	} else {
		return Upstream{}, fmt.Errorf("local address %q: %s", bind, upstreamForm)
	}
	if u.Bind.Port() == 0 {
		return Upstream{}, errors.New("local port 0: choose a port")
	}
	return u, nil
}

// FormatUpstreams is the inverse of ParseUpstreams.
func FormatUpstreams(us []Upstream) string {
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// ValidateInterception checks the interception mode and, for
// InterceptionNone, the addresses it needs.
func (m *Metadata) ValidateInterception() error {
	switch m.Interception {
	case "", InterceptionIPTables:
		if len(m.Upstreams) > 0 || m.AppAddress != "" {
			return errors.New("upstreams and the application address are for interception none: with iptables the application calls services by their own addresses, and listens where the proxy expects it (127.0.0.1)")
		}
		return nil
	case InterceptionNone:
	default:
		return fmt.Errorf("interception %q is not %q or %q", m.Interception, InterceptionIPTables, InterceptionNone)
	}
	var errs []error
	for name, v := range map[string]string{"workload": m.Workload, "namespace": m.Namespace, "service account": m.ServiceAccount} {
		if v == "" {
			errs = append(errs, fmt.Errorf("interception none needs the %s: the control plane builds the proxy's listeners from it", name))
		}
	}
	// Where each listener of the proxy and its application is, to find
	// two on one address.
	taken := map[netip.AddrPort]string{}
	take := func(ap netip.AddrPort, what string) {
		if other, dup := taken[ap]; dup {
			errs = append(errs, fmt.Errorf("%s and %s both want %s: choose another port or address", other, what, ap))
		}
		taken[ap] = what
	}
	if len(m.Ports) > 0 {
		ip, err := netip.ParseAddr(m.IP)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("interception none takes inbound traffic on the workload's IP: %q is not an IP", m.IP))
		case ip.IsUnspecified():
			errs = append(errs, fmt.Errorf("--ip %s: give the workload's own address, the one peers dial", m.IP))
		}
		app, err := netip.ParseAddr(m.AppAddress)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("interception none delivers inbound traffic to the application's address: %q is not an IP (give a loopback address of the application's own, such as 127.0.2.1)", m.AppAddress))
		case !app.IsLoopback():
			// Anyone who reaches a routable address would skip the
			// proxy's mTLS and authorization.
			errs = append(errs, fmt.Errorf("the application's address %s is not a loopback address: clients could reach the application past the proxy's mTLS and authorization; give it one such as 127.0.2.1", app))
		}
		if m.AppAddress == m.IP {
			errs = append(errs, fmt.Errorf("the application's address %s is the proxy's: both would listen on the application ports there; give the application another address", m.IP))
		}
		for _, p := range m.Ports {
			if ip.IsValid() {
				take(netip.AddrPortFrom(ip, uint16(p.Port)), fmt.Sprintf("inbound port %d", p.Port))
			}
			if app.IsValid() {
				take(netip.AddrPortFrom(app, uint16(p.Port)), fmt.Sprintf("the application's port %d", p.Port))
			}
		}
	}
	for _, u := range m.Upstreams {
		if !u.Bind.Addr().IsLoopback() {
			// The listener calls services as this workload, for whoever
			// connects: it must not be reachable from the network.
			errs = append(errs, fmt.Errorf("upstream %s listens on %s, which is not a loopback address: whoever reaches it would call %s/%s as this workload; listen on a loopback address such as 127.0.0.1", u, u.Bind.Addr(), u.Namespace, u.Service))
		}
		take(u.Bind, "upstream "+u.Namespace+"/"+u.Service)
	}
	return errors.Join(errs...)
}
