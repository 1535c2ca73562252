package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// testService is a gRPC service with unary, server-streaming and
// bidirectional calls.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s != nil {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload(), Username: "server"}, nil
}

func (testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	for _, p := range req.GetResponseParameters() {
		body := strings.Repeat("x", int(p.GetSize()))
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte(body)}}); err != nil {
			return err
		}
	}
	return nil
}

func (testService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// twoSidecars runs a client proxy and a server proxy (inbound on
// 127.0.0.2, as if it were the server pod's IP) between a client and an
// app, configured by one control plane; the hop between the proxies is
// HTTP/2.
type twoSidecars struct {
	client, server *testProxy
	outboundPort   uint32
}

func startTwoSidecars(t *testing.T, appPort uint32, appHTTP2 bool) *twoSidecars {
	cp := startControlPlane(t)
	ts := &twoSidecars{server: startProxy(t, cp, "server"), client: startProxy(t, cp, "client"), outboundPort: freePort(t)}
	inboundPort := freePort(t)
	vs := cp.set(t, "server", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: {staticCluster(appHTTP2, appPort)},
		resourcev3.ListenerType: {build.Listener("inbound|app", "127.0.0.2", inboundPort, corev3.TrafficDirection_INBOUND,
			build.HTTPManager("inbound", "inbound|app"))},
		resourcev3.RouteType: {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
	})
	ts.server.waitVersion(t, resourcev3.RouteType, vs)
	vc := cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {build.Cluster(build.ClusterOptions{Name: "outbound|app", HTTP2: true, Service: "app", Namespace: "test", MeshCluster: "local"})},
		resourcev3.EndpointType: {build.LoadAssignment("outbound|app", build.Endpoints(0, "z1", build.Address("127.0.0.2", inboundPort)))},
		resourcev3.ListenerType: {build.Listener("outbound|app", "127.0.0.1", ts.outboundPort, corev3.TrafficDirection_OUTBOUND,
			build.HTTPManager("outbound", "outbound|app"))},
		resourcev3.RouteType: {build.RouteConfig("outbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "outbound|app", 0)))},
	})
	ts.client.waitVersion(t, resourcev3.RouteType, vc)
	ts.client.waitVersion(t, resourcev3.EndpointType, vc)
	return ts
}

// staticCluster is the cluster "inbound|app": the app at 127.0.0.1:port.
func staticCluster(http2 bool, port uint32) *clusterv3.Cluster {
	const host = "127.0.0.1"
	const name = "inbound|app"
	return build.Cluster(build.ClusterOptions{
		Name: name, HTTP2: http2, Service: "app", Namespace: "test", MeshCluster: "local",
		Static: []*endpointv3.LocalityLbEndpoints{build.Endpoints(0, "", build.Address(host, port))},
	})
}

func TestGRPCThroughTwoSidecars(t *testing.T) {
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testService{})
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	ts := startTwoSidecars(t, uint32(ln.Addr().(*net.TCPAddr).Port), true)

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", ts.outboundPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Unary.
	resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}})
	if err != nil || string(resp.GetPayload().GetBody()) != "ping" {
		t.Fatalf("unary call: %v, %v", resp, err)
	}
	// A status in trailers reaches the caller intact.
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such order"}})
	if s, _ := status.FromError(err); s.Code() != codes.NotFound || s.Message() != "no such order" {
		t.Fatalf("error status through two sidecars: %v, want NotFound \"no such order\"", err)
	}
	// Server streaming.
	stream, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 10}, {Size: 100000}, {Size: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(m.GetPayload().GetBody()))
	}
	if fmt.Sprint(sizes) != "[10 100000 1]" {
		t.Fatalf("streamed sizes %v", sizes)
	}
	// Bidirectional: each message is answered before the next is sent, so
	// the proxies must not buffer.
	duplex, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		msg := fmt.Sprintf("msg-%d", i)
		if err := duplex.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}); err != nil {
			t.Fatal(err)
		}
		got, err := duplex.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != msg {
			t.Fatalf("duplex echo %d: %v %v", i, got, err)
		}
	}
	if err := duplex.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := duplex.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("duplex end: %v", err)
	}
	// Both proxies counted the NotFound call with its gRPC status.
	for name, p := range map[string]*testProxy{"client": ts.client, "server": ts.server} {
		if n := p.metric(t, "plexus_requests_total", "grpc_status", "5"); n != 1 {
			t.Errorf("%s proxy counted %v calls with grpc_status 5, want 1", name, n)
		}
	}
}

func TestWebSocketUpgradeThroughTwoSidecars(t *testing.T) {
	// The app upgrades the connection and echoes lines.
	app := startBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString("echo " + line)
			_ = brw.Flush()
		}
	})
	ts := startTwoSidecars(t, app.port(), false)
	conn := dial(t, fmt.Sprintf("127.0.0.1:%d", ts.outboundPort))
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello", "world"} {
		fmt.Fprintf(conn, "%s\n", msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("over the upgraded connection: %q, %v", line, err)
		}
	}
}
