package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Observer receives the events of a cluster that metrics count.
type Observer interface {
	Ejected(c *config.Cluster, h *Host, reason string)
	EjectedHosts(c *config.Cluster, n int)
	Overflow(c *config.Cluster, limit string)
}

// Cluster is the runtime of one upstream cluster.
type Cluster struct {
	cfg      *config.Cluster
	hosts    atomic.Pointer[hostSet]
	balancer balancer
	breaker  breaker
	observer Observer
	now      func() time.Time

	transport http.RoundTripper
	// h1 carries upgrade requests (WebSocket and the like), which need
	// HTTP/1.1 even when the cluster speaks HTTP/2.
	h1     *http.Transport
	dialer net.Dialer

	tls *tls.Config

	mu sync.Mutex // serializes ejection decisions
}

// Options configure a cluster runtime.
type Options struct {
	Observer Observer
	// Now is the clock; tests inject one.
	Now func() time.Time
	// TLS originates TLS to the hosts when set (mTLS between sidecars).
	// Its NextProtos is replaced to fit each transport.
	TLS *tls.Config
}

// NewCluster creates the runtime for cfg. Endpoints come later with
// SetEndpoints, unless the cluster is static.
func NewCluster(cfg *config.Cluster, opts Options) *Cluster {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cluster{cfg: cfg, observer: opts.Observer, now: opts.Now, tls: opts.TLS}
	c.balancer.policy = cfg.LB
	c.breaker.limits = cfg.Limits
	c.breaker.cond = sync.NewCond(&c.breaker.mu)
	c.dialer = net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	std := c.newTransport(cfg.Protocol)
	c.transport, c.h1 = std, std
	switch {
	case cfg.Protocol == config.HTTP2:
		c.h1 = c.newTransport(config.HTTP1)
	case c.tls == nil && cfg.Protocol == config.HTTP1:
		// Plain HTTP/1.1, the hop to most applications: the lean transport,
		// with the standard one for what it does not handle.
		c.transport = newH1Transport(c.dial, cfg.IdleTimeout, std)
	}
	c.hosts.Store(&hostSet{})
	if cfg.Static != nil {
		c.SetEndpoints(cfg.Static)
	}
	return c
}

// Config returns the cluster's configuration.
func (c *Cluster) Config() *config.Cluster { return c.cfg }

// Transport returns what carries req to the cluster's hosts. Requests must
// have their URL host set to the picked host's address.
func (c *Cluster) Transport(req *http.Request) http.RoundTripper {
	if req.Header.Get("Upgrade") != "" {
		return c.h1
	}
	return c.transport
}

// Dial opens a connection to a host for opaque TCP, counted against the
// connection limit (closing it releases the slot), with TLS when the
// cluster has it.
func (c *Cluster) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.tls == nil {
		return c.dial(ctx, "tcp", addr)
	}
	return c.dialTLS(nil)(ctx, "tcp", addr)
}

// dialTLS returns a dialer that connects and completes the TLS handshake,
// so a handshake failure (such as a peer with the wrong SPIFFE ID) is a
// connect failure, retried and reported as one.
func (c *Cluster) dialTLS(alpn []string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg := c.tls.Clone()
	cfg.NextProtos = alpn
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := c.dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, &ConnectError{Addr: addr, Err: fmt.Errorf("TLS handshake: %w", err)}
		}
		return tc, nil
	}
}

// Scheme is the URL scheme requests to the cluster use.
func (c *Cluster) Scheme() string {
	if c.tls != nil {
		return "https"
	}
	return "http"
}

func (c *Cluster) newTransport(protocol config.Protocol) *http.Transport {
	t := &http.Transport{
		DialContext:         c.dial,
		MaxIdleConns:        0, // no global cap; per-host below
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     c.cfg.IdleTimeout,
		DisableCompression:  true, // pass bodies through untouched
		// The proxy bounds waiting itself (timeouts, per-try timeouts).
		ExpectContinueTimeout: time.Second,
		// Plexus headers are bounded by the downstream listener already.
		MaxResponseHeaderBytes: 1 << 20,
		Protocols:              new(http.Protocols),
	}
	switch {
	case c.tls != nil && protocol == config.HTTP2:
		t.DialTLSContext = c.dialTLS([]string{"h2"})
		t.Protocols.SetHTTP2(true)
	case c.tls != nil:
		t.DialTLSContext = c.dialTLS([]string{"http/1.1"})
		t.Protocols.SetHTTP1(true)
	case protocol == config.HTTP2:
		t.Protocols.SetUnencryptedHTTP2(true)
	default:
		t.Protocols.SetHTTP1(true)
	}
	return t
}

// SetEndpoints replaces the cluster's endpoints. Hosts whose address stays
// keep their state (load, outlier detection).
func (c *Cluster) SetEndpoints(eps *config.Endpoints) {
	old := c.hosts.Load()
	byAddr := make(map[string]*Host, len(old.all))
	for _, h := range old.all {
		byAddr[h.Addr] = h
	}
	set := &hostSet{}
	for _, loc := range eps.Localities {
		var level *priorityLevel
		if n := len(set.levels); n > 0 && set.levels[n-1].priority == loc.Priority {
			level = &set.levels[n-1]
		} else {
			set.levels = append(set.levels, priorityLevel{priority: loc.Priority})
			level = &set.levels[len(set.levels)-1]
		}
		for _, ep := range loc.Endpoints {
			h := byAddr[ep.Address]
			if h == nil || h.weight != ep.Weight || h.health != ep.Health || h.Cluster != loc.SubZone {
				nh := &Host{Addr: ep.Address, Cluster: loc.SubZone, weight: ep.Weight, health: ep.Health}
				if h != nil { // keep runtime state
					nh.ejectedUntil.Store(h.ejectedUntil.Load())
					nh.ejections.Store(h.ejections.Load())
				}
				h = nh
			}
			level.hosts = append(level.hosts, h)
			set.all = append(set.all, h)
		}
	}
	c.hosts.Store(set)
	c.reportEjected()
}

// Hosts returns the current hosts.
func (c *Cluster) Hosts() []*Host { return c.hosts.Load().all }

// Pick chooses a host for a new request or connection, avoiding the hosts
// in tried when another is available.
func (c *Cluster) Pick(tried []*Host) (*Host, error) {
	return c.balancer.pick(c.hosts.Load(), c.now(), tried)
}

// Close releases the cluster's idle connections. Connections in use finish
// their requests.
func (c *Cluster) Close() {
	for _, t := range []http.RoundTripper{c.transport, c.h1} {
		if ci, ok := t.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}
}

func (c *Cluster) reportEjected() {
	if c.observer == nil {
		return
	}
	now, n := c.now(), 0
	for _, h := range c.hosts.Load().all {
		if h.ejected(now) {
			n++
		}
	}
	c.observer.EjectedHosts(c.cfg, n)
}
