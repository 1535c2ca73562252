package sidecar

import (
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// TestOpaqueTCP proxies a server-first protocol and an echo with half-close
// through a tcp_proxy listener, and counts the bytes.
func TestOpaqueTCP(t *testing.T) {
	ln := listen(t)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, "220 ready\n") // the server speaks first
				_, _ = io.Copy(c, c)                    // then echoes until the client half-closes
			}()
		}
	}()
	cp := startControlPlane(t)
	p := startProxy(t, cp, "client")
	port := freePort(t)
	backendPort := uint32(ln.Addr().(*net.TCPAddr).Port)
	v := cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {build.Cluster(build.ClusterOptions{Name: "db", LB: clusterv3.Cluster_ROUND_ROBIN, Service: "db", Namespace: "test", MeshCluster: "local"})},
		resourcev3.EndpointType: {build.LoadAssignment("db", build.Endpoints(0, "z1", build.Address("127.0.0.1", backendPort)))},
		resourcev3.ListenerType: {build.Listener("outbound|db", "127.0.0.1", port, corev3.TrafficDirection_OUTBOUND, build.TCPProxy("db", "db"))},
	})
	p.waitVersion(t, resourcev3.EndpointType, v)
	p.waitVersion(t, resourcev3.ListenerType, v)

	conn := dial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	greeting := make([]byte, 10)
	if _, err := io.ReadFull(conn, greeting); err != nil || string(greeting) != "220 ready\n" {
		t.Fatalf("server-first greeting: %q, %v", greeting, err)
	}
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i)
	}
	go func() {
		_, _ = conn.Write(payload)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	echoed, err := io.ReadAll(conn)
	if err != nil || len(echoed) != len(payload) {
		t.Fatalf("echoed %d bytes (%v), want %d", len(echoed), err, len(payload))
	}
	for i := range echoed {
		if echoed[i] != payload[i] {
			t.Fatalf("byte %d differs", i)
		}
	}
	testenv.Eventually(t, "TCP connection counted as closed", func() error {
		if p.metric(t, "plexus_tcp_connections_closed_total", "destination_service", "db") != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	if sent := p.metric(t, "plexus_tcp_sent_bytes_total", "destination_service", "db"); sent != float64(len(payload)) {
		t.Errorf("sent bytes = %v, want %d", sent, len(payload))
	}
	if got := p.metric(t, "plexus_tcp_received_bytes_total", "destination_service", "db"); got != float64(len(payload)+10) {
		t.Errorf("received bytes = %v, want %d", got, len(payload)+10)
	}
}
