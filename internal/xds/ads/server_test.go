package ads

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/xdsclient"
)

// target is a proxy that compiles what it receives with the sidecar's own
// compiler and remembers it, without opening sockets.
type target struct {
	mu      sync.Mutex
	snap    *config.Snapshot
	applied map[string]int // per type URL
}

func (t *target) Snapshot() *config.Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snap
}

func (t *target) Apply(s *config.Snapshot) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for typeURL, v := range s.Versions {
		if t.snap.Versions[typeURL] != v {
			t.applied[typeURL]++
		}
	}
	t.snap = s
	return nil
}

type noMetrics struct{}

func (noMetrics) ConfigUpdate(string, bool) {}
func (noMetrics) XDSConnected(bool)         {}

func mesh(endpoints ...string) *model.Mesh {
	svc := &model.Service{
		Key:       model.NamespacedName{Namespace: "shop", Name: "reviews"},
		Hostnames: []string{"reviews.shop.svc.cluster.local"},
		Ports:     []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}},
	}
	for _, ep := range endpoints {
		svc.Endpoints = append(svc.Endpoints, model.Endpoint{Address: netip.MustParseAddr(ep), Ports: map[string]uint32{"http": 9080}, Healthy: true})
	}
	return &model.Mesh{
		Settings: model.Settings{ClusterName: "east", TrustDomain: "east.example", MTLS: model.MTLSStrict,
			Traffic: model.Traffic{LoadBalancer: model.RoundRobin, ConnectTimeout: time.Second}},
		Services: []*model.Service{svc},
	}
}

// quietLog keeps expected warnings out of test output.
func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// serve runs a server with cfg over gRPC on loopback for the rest of the
// test and returns it with a client connection to it.
func serve(t *testing.T, cfg Config) (*Server, *grpc.ClientConn) {
	t.Helper()
	cfg.Log = quietLog()
	srv := New(cfg)
	g := grpc.NewServer()
	srv.Register(g)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		g.Stop()
	})
	return srv, conn
}

func TestServerPushesTranslatedConfigAndDebounces(t *testing.T) {
	log := quietLog()
	srv, conn := serve(t, Config{Debounce: 200 * time.Millisecond, MaxDelay: 10 * time.Second})
	srv.Update(mesh("10.0.0.21"))

	meta := nodemeta.Metadata{Workload: "productpage", Namespace: "shop", ServiceAccount: "productpage", IP: "10.0.0.10",
		Ports: []nodemeta.Port{{Port: 9080, Protocol: "http"}}}
	tgt := &target{snap: config.Empty(), applied: map[string]int{}}
	clientCtx, stopClient := context.WithCancel(context.Background())
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		_ = xdsclient.New(xdsclient.Config{Conn: conn, Node: &corev3.Node{Id: "productpage-1.shop", Metadata: meta.Struct()},
			Target: tgt, Observer: noMetrics{}, Log: log}).Run(clientCtx)
	}()

	endpointsAre := func(want ...string) func() error {
		return func() error {
			s := tgt.Snapshot()
			if s.Clusters["inbound|9080"] == nil || s.Listeners["virtual-inbound"] == nil {
				return errors.New("inbound configuration for the proxy's own workload is missing")
			}
			eps := s.Endpoints["outbound|9080|shop|reviews"]
			if eps == nil {
				return errors.New("no endpoints yet")
			}
			var got []string
			for _, l := range eps.Localities {
				for _, e := range l.Endpoints {
					got = append(got, e.Address)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("endpoints %v, want %v", got, want)
			}
			return nil
		}
	}
	testenv.Eventually(t, "first configuration", endpointsAre("10.0.0.21:9080"))
	if got := srv.Connected(); fmt.Sprint(got) != "[productpage-1.shop]" {
		t.Fatalf("connected proxies %v", got)
	}
	tgt.mu.Lock()
	before := tgt.applied[resourcev3.EndpointType]
	tgt.mu.Unlock()

	// A burst of 20 changes, faster than the debounce, is one push.
	for i := range 20 {
		srv.Update(mesh(fmt.Sprintf("10.0.1.%d", i)))
		time.Sleep(time.Millisecond)
	}
	testenv.Eventually(t, "the burst's last state", endpointsAre("10.0.1.19:9080"))
	tgt.mu.Lock()
	pushes := tgt.applied[resourcev3.EndpointType] - before
	tgt.mu.Unlock()
	if pushes > 2 {
		t.Fatalf("a burst of 20 changes caused %d pushes; it should be debounced into one", pushes)
	}

	if n := srv.NACKs(); len(n) != 0 {
		t.Fatalf("NACKs recorded although the proxy accepted everything: %+v", n)
	}

	stopClient()
	<-clientDone
	testenv.Eventually(t, "disconnect noticed", func() error {
		if got := srv.Connected(); len(got) != 0 {
			return fmt.Errorf("still connected: %v", got)
		}
		return nil
	})
}
