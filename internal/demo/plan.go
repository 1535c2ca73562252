package demo

import (
	"fmt"
	"net"
	"net/netip"
)

// Plan is where every part of the demo listens. Ports are counted from a
// base port chosen away from common services (default 17400); each
// cluster has loopback addresses of its own, 127.77.<cluster>.<n>, so
// every workload can use the same ports.
type Plan struct {
	Base int
}

// Cluster numbers in addresses.
const (
	eastNet = 1
	westNet = 2
)

// Host is an address of a cluster's network: .1 the control plane, .2 the
// gateway, .10 and up the workloads' proxies, .110 and up their
// applications.
func (p Plan) Host(cluster, n int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 77, byte(cluster), byte(n)})
}

// Port offsets from Base.
const (
	offDashboard    = 0 // east; west is +1
	offXDS          = 10
	offCA           = 12
	offOperatorMet  = 14
	offFederation   = 17
	offBundle       = 18
	offAdmin        = 20
	offGateway      = 43
	offUpstream     = 50 // frontend, reviews, ratings: +0, +1, +2
	offHTTP         = 80
	offGRPC         = 81
	offPrometheus   = 90
	offAlertmanager = 93
	offControl      = 99
)

// Port is Base+off.
func (p Plan) Port(off int) int { return p.Base + off }

// Addr is host:Base+off.
func (p Plan) Addr(host netip.Addr, off int) string {
	return netip.AddrPortFrom(host, uint16(p.Port(off))).String()
}

// Local is 127.0.0.1:Base+off, for what the user opens.
func (p Plan) Local(off int) string { return p.Addr(netip.AddrFrom4([4]byte{127, 0, 0, 1}), off) }

// check makes sure every address the demo needs is free, and says which
// one is not and what to do.
func (p Plan) check(addrs []string) error {
	if p.Base < 1024 || p.Base > 65535-100 {
		return fmt.Errorf("--base-port %d: choose a port from 1024 to %d; the demo uses the 100 ports from it", p.Base, 65535-100)
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a) //nolint:noctx // a quick probe, closed at once
		if err != nil {
			return fmt.Errorf("%s is in use (%w): stop what listens there, or move the demo with --base-port (it uses ports %d to %d)", a, err, p.Base, p.Base+99)
		}
		_ = ln.Close()
	}
	return nil
}
