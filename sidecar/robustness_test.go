package sidecar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// seen records what the backend received.
type seen struct {
	mu   sync.Mutex
	reqs []string
}

func (s *seen) add(r string) { s.mu.Lock(); s.reqs = append(s.reqs, r); s.mu.Unlock() }
func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// hostileScenario is a proxy in front of a recording backend, with a 1s
// request header timeout.
func hostileScenario(t *testing.T) (*scenario, *seen) {
	s := newScenario(t)
	rec := &seen{}
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reset" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				_ = conn.Close()
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		rec.add(fmt.Sprintf("%s %s %q", r.Method, r.URL.Path, body))
	})
	hcm := build.HTTPManager("outbound", "routes")
	cfg := &hcmv3.HttpConnectionManager{}
	if err := hcm.GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.RequestHeadersTimeout = build.Duration(time.Second)
	v := s.cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {simpleCluster("web")},
		resourcev3.EndpointType: {build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(b)...))},
		resourcev3.ListenerType: {build.Listener("outbound", "127.0.0.1", s.port, corev3.TrafficDirection_OUTBOUND, withTypedConfig(hcm, cfg))},
		resourcev3.RouteType:    {build.RouteConfig("routes", build.VirtualHost("all", []string{"*"}, build.RouteToCluster("default", "web", 10*time.Second)))},
	})
	s.proxy.waitVersion(t, resourcev3.RouteType, v)
	s.proxy.waitVersion(t, resourcev3.EndpointType, v)
	return s, rec
}

// raw sends bytes on a new connection and returns the status of the first
// response, and the reader for more.
func raw(t *testing.T, s *scenario, payload string) (int, *bufio.Reader) {
	t.Helper()
	conn := dial(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, payload); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", payload, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, br
}

func TestHostileRequests(t *testing.T) {
	s, rec := hostileScenario(t)

	t.Run("conflicting content lengths are refused", func(t *testing.T) {
		if code, _ := raw(t, s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
	})
	t.Run("malformed request line", func(t *testing.T) {
		if code, _ := raw(t, s, "THIS IS NOT HTTP\r\n\r\n"); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		if code, _ := raw(t, s, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 100<<10)+"\r\n\r\n"); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", code)
		}
	})
	if got := rec.list(); len(got) != 0 {
		t.Fatalf("refused requests reached the backend: %v", got)
	}

	t.Run("content-length with chunked: proxy and backend agree", func(t *testing.T) {
		// Transfer-Encoding wins (RFC 9112 6.3); the bytes after the empty
		// chunk are a second request, and the proxy itself parses and
		// routes it. Nothing reaches the backend unseen.
		code, br := raw(t, s, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
		if code != http.StatusOK {
			t.Fatalf("first: %d", code)
		}
		resp2, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		want := []string{`POST /first ""`, `GET /second ""`}
		if got := rec.list(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("backend saw %q, want %q", got, want)
		}
	})

	t.Run("slowloris is cut off", func(t *testing.T) {
		conn := dial(t, fmt.Sprintf("127.0.0.1:%d", s.port))
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		_ = conn.SetReadDeadline(time.Now().Add(testenv.Timeout))
		// The proxy answers 408 or closes once the header timeout passes.
		b, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the proxy kept a connection with unfinished headers open for %s", testenv.Timeout)
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
			t.Fatalf("unexpected answer to a slow client: %q", b)
		}
	})

	t.Run("client gone mid-body", func(t *testing.T) {
		conn := dial(t, fmt.Sprintf("127.0.0.1:%d", s.port))
		_, _ = io.WriteString(conn, "POST /partial HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a little")
		_ = conn.(*net.TCPConn).SetLinger(0)
		_ = conn.Close()
		// The proxy carries on serving.
		if code, _, _ := get(t, s.client, s.url("/after")); code != http.StatusOK {
			t.Fatalf("after a client reset: %d", code)
		}
	})

	t.Run("upstream reset before the response", func(t *testing.T) {
		code, _, reason := get(t, s.client, s.url("/reset"))
		if code != http.StatusServiceUnavailable || reason != "upstream_reset" {
			t.Fatalf("upstream reset: %d %q, want 503 upstream_reset", code, reason)
		}
	})
}

// withTypedConfig returns filter with its typed config replaced.
func withTypedConfig(filter *listenerv3.Filter, cfg *hcmv3.HttpConnectionManager) *listenerv3.Filter {
	return &listenerv3.Filter{Name: filter.GetName(), ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: build.Any(cfg)}}
}
