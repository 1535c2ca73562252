package listener

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// originalDst returns where a connection redirected by iptables REDIRECT
// was going before it was redirected (SO_ORIGINAL_DST).
func originalDst(conn net.Conn) (netip.AddrPort, error) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return netip.AddrPort{}, errors.New("not a TCP connection")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var addr netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		if local, ok := tc.LocalAddr().(*net.TCPAddr); ok && local.IP.To4() == nil {
			serr = errors.New("original destination of IPv6 connections is not supported: interception rules are IPv4")
			return
		}
		// SO_ORIGINAL_DST returns a sockaddr_in; IPv6Mreq is a 20-byte
		// buffer that holds it.
		var mreq *unix.IPv6Mreq
		if mreq, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST); serr == nil {
			b := mreq.Multiaddr
			addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}), binary.BigEndian.Uint16(b[2:4]))
		}
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	return addr, serr
}

// redirectedConn remembers a connection's original destination, for
// ORIGINAL_DST (passthrough) clusters.
type redirectedConn struct {
	net.Conn
	dst netip.AddrPort
}

// NetConn returns the underlying connection.
func (c *redirectedConn) NetConn() net.Conn { return c.Conn }

// OriginalDst returns where conn was going before interception, if it was
// intercepted.
func OriginalDst(conn net.Conn) (netip.AddrPort, bool) {
	for {
		if r, ok := conn.(*redirectedConn); ok {
			return r.dst, true
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return netip.AddrPort{}, false
		}
		conn = u.NetConn()
	}
}
