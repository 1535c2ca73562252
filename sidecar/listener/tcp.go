package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// TCPObserver is told about opaque TCP connections, for metrics.
type TCPObserver interface {
	Opened(dir config.Direction, c *config.Cluster)
	// Accepted counts a connection an inbound listener accepted, by
	// whether it was mutual TLS.
	Accepted(mtls bool)
	Closed(dir config.Direction, c *config.Cluster, sent, received int64)
	// Failed is a connection closed because no upstream could be reached.
	Failed(dir config.Direction, c *config.Cluster, reason string)
}

// proxyTCP connects conn to a host of the chain's cluster and copies bytes
// both ways until both sides are done or the idle timeout passes.
func proxyTCP(conn net.Conn, tp *config.TCPProxy, dir config.Direction, env Env) {
	defer conn.Close()
	obs := env.TCPObserver()
	cluster := env.Cluster(tp.Cluster)
	if cluster == nil {
		obs.Failed(dir, nil, "no_cluster")
		return
	}
	cfg := cluster.Config()
	if cfg.OriginalDst {
		proxyPassthrough(conn, cluster, dir, idleTimeout(tp), obs)
		return
	}
	var tried []*upstream.Host
	var up net.Conn
	// One more attempt on another host when the first cannot be reached.
	for attempt := 0; attempt < 2 && up == nil; attempt++ {
		host, err := cluster.Pick(tried)
		if err != nil {
			obs.Failed(dir, cfg, "no_healthy_upstream")
			return
		}
		tried = append(tried, host)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
		up, err = cluster.Dial(ctx, host.Addr)
		cancel()
		if err != nil {
			cluster.Report(host, upstream.GatewayError)
			var oe *upstream.OverflowError
			if errors.As(err, &oe) {
				obs.Failed(dir, cfg, "overflow_"+oe.Limit)
				return
			}
			up = nil
			continue
		}
		cluster.Report(host, upstream.Success)
	}
	if up == nil {
		obs.Failed(dir, cfg, "upstream_connect_failure")
		return
	}
	defer up.Close()
	relay(conn, up, dir, cfg, idleTimeout(tp), obs)
}

func idleTimeout(tp *config.TCPProxy) time.Duration { return tp.IdleTimeout }

// relay copies between the two connections until both directions end.
func relay(down, up net.Conn, dir config.Direction, cfg *config.Cluster, idle time.Duration, obs TCPObserver) {
	obs.Opened(dir, cfg)
	stop := watchIdle(idle, down, up)
	var wg sync.WaitGroup
	var sent, received int64
	wg.Go(func() { sent = pipe(up, down) })
	received = pipe(down, up)
	wg.Wait()
	stop()
	obs.Closed(dir, cfg, sent, received)
}

// proxyPassthrough connects an intercepted connection to where it was
// going.
func proxyPassthrough(conn net.Conn, cluster *upstream.Cluster, dir config.Direction, idle time.Duration, obs TCPObserver) {
	cfg := cluster.Config()
	dst, ok := OriginalDst(conn)
	if !ok {
		obs.Failed(dir, cfg, "no_original_destination")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
	up, err := cluster.Dial(ctx, dst.String())
	cancel()
	if err != nil {
		obs.Failed(dir, cfg, "upstream_connect_failure")
		return
	}
	defer up.Close()
	relay(conn, up, dir, cfg, idle, obs)
}

// pipe copies src to dst, then half-closes dst so the peer sees the end of
// the stream while the other direction may go on. Between two plain TCP
// connections on Linux, io.Copy moves the bytes with splice(2), without
// passing through user space.
func pipe(dst, src net.Conn) int64 {
	rawDst, rawSrc := unwrap(dst), unwrap(src)
	n, _ := io.Copy(rawDst, rawSrc)
	if cw, ok := rawDst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
	return n
}

// unwrap removes the proxy's own bookkeeping wrappers so a copy between
// two plain TCP connections can use splice. It stops at TLS: those bytes
// must go through the TLS connection.
func unwrap(c net.Conn) net.Conn {
	for {
		if _, isTLS := c.(*tls.Conn); isTLS {
			return c
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = u.NetConn()
	}
}

// rawTCP finds the TCP connection under any wrapper, TLS included.
func rawTCP(c net.Conn) (*net.TCPConn, bool) {
	for {
		if tc, ok := c.(*net.TCPConn); ok {
			return tc, true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		c = u.NetConn()
	}
}
