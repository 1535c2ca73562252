package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// countingServer serves HTTP/1.1 and counts the connections it accepted.
// With dropIdle set it closes every connection as soon as it is idle, as a
// server with a short idle timeout would.
func countingServer(t *testing.T, h http.HandlerFunc, dropIdle ...*atomic.Bool) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int64{}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ConnState: func(c net.Conn, s http.ConnState) {
		switch {
		case s == http.StateNew:
			conns.Add(1)
		case s == http.StateIdle && len(dropIdle) > 0 && dropIdle[0].Load():
			_ = c.Close()
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), conns
}

func h1Cluster(t *testing.T) *Cluster {
	cfg := &config.Cluster{Name: "c", ConnectTimeout: time.Second, IdleTimeout: time.Hour, Protocol: config.HTTP1,
		Limits: config.Limits{MaxConnections: 100, MaxPendingRequests: 100, MaxRequests: 100, MaxRetries: 3}}
	c := NewCluster(cfg, Options{})
	t.Cleanup(c.Close)
	if _, ok := c.transport.(*h1Transport); !ok {
		t.Fatalf("plain HTTP/1.1 cluster uses %T, want the lean transport", c.transport)
	}
	return c
}

func send(t *testing.T, c *Cluster, addr, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Transport(req).RoundTrip(req)
}

func TestH1ReusesConnections(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	c := h1Cluster(t)
	for i := range 20 {
		resp, err := send(t, c, addr, "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests used %d connections, want 1", n)
	}
}

func TestH1RetriesWhenAnIdleConnectionWasClosed(t *testing.T) {
	drop := &atomic.Bool{}
	drop.Store(true)
	addr, conns := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }, drop)
	c := h1Cluster(t)
	resp, err := send(t, c, addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	// The server closed the connection once idle; the pooled one is dead.
	resp, err = send(t, c, addr, "/")
	if err != nil {
		t.Fatalf("request after the server closed the idle connection: %v", err)
	}
	resp.Body.Close()
	if n := conns.Load(); n != 2 {
		t.Fatalf("connections = %d, want 2 (the dead one replaced)", n)
	}
}

func TestH1AbandonedStreamIsClosedNotDrained(t *testing.T) {
	addr, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/endless" {
			for r.Context().Err() == nil {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
					return
				}
				http.NewResponseController(w).Flush()
			}
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	c := h1Cluster(t)
	resp, err := send(t, c, addr, "/endless") //nolint:bodyclose // closed in the goroutine below
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { resp.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("closing an abandoned endless body blocked (it was being drained)")
	}
	again, err := send(t, c, addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if n := conns.Load(); n != 2 {
		t.Fatalf("connections = %d, want 2: an abandoned connection must not be reused", n)
	}
}
