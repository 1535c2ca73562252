package upstream

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Circuit breaker limits, as metric labels and local reply reasons.
const (
	LimitConnections = "connections"
	LimitPending     = "pending"
	LimitRequests    = "requests"
	LimitRetries     = "retries"
)

// OverflowError means a circuit breaker refused the request.
type OverflowError struct{ Limit string }

func (e *OverflowError) Error() string {
	return "circuit breaker overflow: max " + e.Limit + " reached"
}

// breaker tracks a cluster's load against its limits.
type breaker struct {
	limits config.Limits

	mu          sync.Mutex
	cond        *sync.Cond
	requests    int // admitted, in flight
	pending     int // waiting for a request slot
	retries     int // retries in flight
	connections int
}

// Acquire admits a request, waiting while the cluster is at its request
// limit as long as fewer than max pending requests wait. The returned
// release must be called when the request ends.
func (c *Cluster) Acquire(ctx context.Context) (release func(), err error) {
	b := &c.breaker
	limit := b.limits.MaxRequests
	if c.cfg.Protocol != config.HTTP2 && b.limits.MaxConnections < limit {
		// HTTP/1.1 needs a connection per request in flight.
		limit = b.limits.MaxConnections
	}
	b.mu.Lock()
	if b.requests >= limit {
		if b.pending >= b.limits.MaxPendingRequests {
			b.mu.Unlock()
			return nil, c.overflow(LimitPending)
		}
		b.pending++
		stop := context.AfterFunc(ctx, func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
		for b.requests >= limit && ctx.Err() == nil {
			b.cond.Wait()
		}
		stop()
		b.pending--
		if ctx.Err() != nil {
			b.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	b.requests++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.requests--
			b.cond.Signal()
			b.mu.Unlock()
		})
	}, nil
}

// AcquireRetry admits a retry within the retry limit or budget.
func (c *Cluster) AcquireRetry() (release func(), err error) {
	b := &c.breaker
	b.mu.Lock()
	limit := b.limits.MaxRetries
	if b.limits.RetryBudgetPercent > 0 {
		limit = int(float64(b.requests+b.pending) * b.limits.RetryBudgetPercent / 100)
		if limit < b.limits.MinRetryConcurrency {
			limit = b.limits.MinRetryConcurrency
		}
	}
	if b.retries >= limit {
		b.mu.Unlock()
		return nil, c.overflow(LimitRetries)
	}
	b.retries++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.retries--
			b.mu.Unlock()
		})
	}, nil
}

func (c *Cluster) overflow(limit string) error {
	if c.observer != nil {
		c.observer.Overflow(c.cfg, limit)
	}
	return &OverflowError{Limit: limit}
}

// dial opens a connection counted against the connection limit.
func (c *Cluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	b := &c.breaker
	b.mu.Lock()
	if b.connections >= b.limits.MaxConnections {
		b.mu.Unlock()
		// Idle connections to other hosts may hold the slots; free them
		// for the next request.
		go c.Close()
		return nil, c.overflow(LimitConnections)
	}
	b.connections++
	b.mu.Unlock()
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		c.releaseConn()
		return nil, &ConnectError{Addr: addr, Err: err}
	}
	return &countedConn{Conn: conn, release: c.releaseConn}, nil
}

func (c *Cluster) releaseConn() {
	c.breaker.mu.Lock()
	c.breaker.connections--
	c.breaker.mu.Unlock()
}

// ConnectError means a connection to a host could not be established.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string { return "connecting to " + e.Addr + ": " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// IsConnectFailure reports whether err is a failure to connect.
func IsConnectFailure(err error) bool {
	var ce *ConnectError
	return errors.As(err, &ce)
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// NetConn returns the underlying connection, so copies can use splice.
func (c *countedConn) NetConn() net.Conn { return c.Conn }

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
