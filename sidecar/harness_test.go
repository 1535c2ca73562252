package sidecar

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
	"github.com/plexus-mesh/plexus/sidecar/xdsclient"
)

// controlPlane is a real xDS server (go-control-plane's snapshot cache)
// listening on loopback.
type controlPlane struct {
	cache   cachev3.SnapshotCache
	addr    string
	version atomic.Int64
	srv     *grpc.Server
	cancel  context.CancelFunc

	mu       sync.Mutex
	requests []*discoverygrpc.DiscoveryRequest // every request received
}

// received returns the requests proxies have sent so far.
func (cp *controlPlane) received() []*discoverygrpc.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]*discoverygrpc.DiscoveryRequest(nil), cp.requests...)
}

func startControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	cp := &controlPlane{cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)}
	ln := listen(t)
	cp.addr = ln.Addr().String()
	cp.serve(ln)
	t.Cleanup(cp.stop)
	return cp
}

func (cp *controlPlane) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	cp.srv, cp.cancel = grpc.NewServer(), cancel
	record := serverv3.CallbackFuncs{StreamRequestFunc: func(_ int64, req *discoverygrpc.DiscoveryRequest) error {
		cp.mu.Lock()
		cp.requests = append(cp.requests, req)
		cp.mu.Unlock()
		return nil
	}}
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(cp.srv, serverv3.NewServer(ctx, cp.cache, record))
	go func(srv *grpc.Server) { _ = srv.Serve(ln) }(cp.srv)
}

// stop takes the control plane away, closing every stream.
func (cp *controlPlane) stop() {
	cp.srv.Stop()
	cp.cancel()
}

// restart brings the control plane back on the same address.
func (cp *controlPlane) restart(t testing.TB) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", cp.addr)
	if err != nil {
		t.Fatal(err)
	}
	cp.serve(ln)
}

// set publishes resources for a node as the next version.
func (cp *controlPlane) set(t testing.TB, node string, resources map[resourcev3.Type][]types.Resource) string {
	t.Helper()
	v := strconv.FormatInt(cp.version.Add(1), 10)
	snap, err := cachev3.NewSnapshot(v, resources)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), node, snap); err != nil {
		t.Fatal(err)
	}
	return v
}

// testProxy is a proxy configured by a control plane over a real gRPC
// connection.
type testProxy struct {
	*Proxy
	metrics *metrics.Metrics
}

func startProxy(t testing.TB, cp *controlPlane, node string) *testProxy {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m := metrics.New(metrics.Workload{Name: "client", Namespace: "test", Cluster: "local"})
	p := New(log, m)
	conn, err := grpc.NewClient(cp.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := xdsclient.New(xdsclient.Config{Conn: conn, Node: &corev3.Node{Id: node}, Target: p, Observer: m, Log: log, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = conn.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = p.Shutdown(sctx)
	})
	return &testProxy{Proxy: p, metrics: m}
}

// waitVersion waits until the proxy has accepted version v of typeURL.
func (p *testProxy) waitVersion(t testing.TB, typeURL, v string) {
	t.Helper()
	testenv.Eventually(t, "proxy accepting "+typeURL+" version "+v, func() error {
		if got := p.Snapshot().Versions[typeURL]; got != v {
			return fmt.Errorf("proxy has version %q", got)
		}
		return nil
	})
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) uint32 {
	t.Helper()
	ln := listen(t)
	defer ln.Close()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

// backend is a real HTTP server that says who it is.
type backend struct {
	name string
	addr *net.TCPAddr
	srv  *http.Server
	hits atomic.Int64
}

func startBackend(t testing.TB, name string, handler http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	ln := listen(t)
	b.addr = ln.Addr().(*net.TCPAddr)
	if handler == nil {
		handler = func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", name)
		handler(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	b.srv.Protocols = new(http.Protocols)
	b.srv.Protocols.SetHTTP1(true)
	b.srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

func (b *backend) host() string { return b.addr.IP.String() }
func (b *backend) port() uint32 { return uint32(b.addr.Port) }

// get sends a GET through the proxy and returns status, X-Backend and the
// local reply reason.
func get(t *testing.T, client *http.Client, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Backend"), resp.Header.Get("X-Plexus-Local-Reply")
}

// metric sums the samples of a counter or gauge whose labels include the
// given name/value pairs.
func (p *testProxy) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := p.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue samples
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// dial connects to a loopback address.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
