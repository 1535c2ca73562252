package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Transport sends HTTP/1.1 requests on pooled connections, writing the
// request and reading the response in the caller's goroutine. Go's
// http.Transport hands every request to a writer and a reader goroutine per
// connection; at moderate load each hand-off wakes a thread, which costs more
// CPU than the request itself. Requests this transport does not handle
// (streaming bodies of unknown or large size, upgrades) go to fallback.
type h1Transport struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	idle     time.Duration
	fallback http.RoundTripper

	mu    sync.Mutex
	pools map[string][]*h1Conn // idle connections per host, most recent last
}

// maxInlineBody is the largest request body written before reading the
// response; bigger or streaming bodies need a concurrent writer.
const maxInlineBody = 64 << 10

// maxIdlePerHost bounds idle connections kept per endpoint.
const maxIdlePerHost = 256

type h1Conn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

func newH1Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), idle time.Duration, fallback http.RoundTripper) *h1Transport {
	return &h1Transport{dial: dial, idle: idle, fallback: fallback, pools: map[string][]*h1Conn{}}
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.Header.Get("Upgrade") != "" || req.Method == http.MethodConnect ||
		(req.Body != nil && req.Body != http.NoBody && (req.ContentLength < 0 || req.ContentLength > maxInlineBody)) {
		return t.fallback.RoundTrip(req)
	}
	// A pooled connection may have been closed by the server while idle;
	// if the first try on a reused one fails before any response, try once
	// more on a new connection when the request can be sent again.
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(req.Context(), req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(c, req)
		if err == nil {
			return resp, nil
		}
		_ = c.Close()
		if !reused || attempt > 0 || !replayable(req) {
			return nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func (t *h1Transport) roundTrip(c *h1Conn, req *http.Request) (*http.Response, error) {
	// Cancelling the request closes the connection, which ends any read or
	// write in progress; the body wrapper stops this once the exchange is
	// complete.
	stop := context.AfterFunc(req.Context(), func() { _ = c.Close() })
	if err := writeRequest(c.bw, req); err != nil {
		stop()
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			if ctxErr := req.Context().Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // informational: the final response follows
		}
		keep := !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1)
		resp.Body = &h1Body{ReadCloser: resp.Body, t: t, c: c, stop: stop, keep: keep, host: req.URL.Host}
		return resp, nil
	}
}

// writeRequest writes req in HTTP/1.1 form and flushes.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	if req.Header.Get("User-Agent") == "" {
		// Request.Write would add Go's own; the proxy adds nothing.
		req.Header = req.Header.Clone()
		req.Header["User-Agent"] = []string{""}
	}
	if err := req.Write(bw); err != nil {
		return fmt.Errorf("writing the request: %w", err)
	}
	return bw.Flush()
}

// get returns an idle connection to host or dials one.
func (t *h1Transport) get(ctx context.Context, host string) (*h1Conn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	pool := t.pools[host]
	for len(pool) > 0 {
		c := pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		if t.idle > 0 && now.Sub(c.lastUsed) > t.idle {
			_ = c.Close()
			continue
		}
		t.pools[host] = pool
		t.mu.Unlock()
		return c, true, nil
	}
	t.pools[host] = pool
	t.mu.Unlock()
	conn, err := t.dial(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{Conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 8<<10)}, false, nil
}

func (t *h1Transport) put(host string, c *h1Conn) {
	c.lastUsed = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pools[host]) >= maxIdlePerHost {
		_ = c.Close()
		return
	}
	t.pools[host] = append(t.pools[host], c)
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := t.pools
	t.pools = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, pool := range pools {
		for _, c := range pool {
			_ = c.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// h1Body returns the connection to the pool once the body has been read to
// the end, or closes it when the reader gives up early.
type h1Body struct {
	io.ReadCloser
	t    *h1Transport
	c    *h1Conn
	stop func() bool
	keep bool
	host string
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.finish(true)
	}
	return n, err
}

func (b *h1Body) Close() error {
	// Finish first: closing an unread body would otherwise drain it, which
	// for an endless stream never ends.
	b.finish(false)
	return b.ReadCloser.Close()
}

func (b *h1Body) finish(complete bool) {
	if b.done {
		return
	}
	b.done = true
	// If cancellation already closed the connection, it cannot be reused.
	notCancelled := b.stop()
	if complete && b.keep && notCancelled && b.c.br.Buffered() == 0 {
		b.t.put(b.host, b.c)
		return
	}
	_ = b.c.Close()
}
