package sidecar

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// echoServer accepts TCP connections and echoes what it reads.
func echoServer(t *testing.T) *net.TCPAddr {
	ln := listen(t)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// TestSniffingSendsHTTPAndTCPToTheirChains serves HTTP/1.1, h2c and opaque
// TCP on one port: the proxy tells them apart from the first bytes.
func TestSniffingSendsHTTPAndTCPToTheirChains(t *testing.T) {
	cp := startControlPlane(t)
	p := startProxy(t, cp, "client")
	port := freePort(t)
	web := startBackend(t, "web", nil)
	echo := echoServer(t)
	l := build.Listener("mixed", "127.0.0.1", port, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("http", "routes"))
	l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"http/1.1", "h2c"}}
	l.DefaultFilterChain = &listenerv3.FilterChain{Filters: []*listenerv3.Filter{build.TCPProxy("tcp", "echo")}}
	v := cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: {simpleCluster("web"), simpleCluster("echo")},
		resourcev3.EndpointType: {
			build.LoadAssignment("web", build.Endpoints(0, "z1", addrs(web)...)),
			build.LoadAssignment("echo", build.Endpoints(0, "z1", build.Address("127.0.0.1", uint32(echo.Port)))),
		},
		resourcev3.ListenerType: {l},
		resourcev3.RouteType:    {build.RouteConfig("routes", build.VirtualHost("all", []string{"*"}, build.RouteToCluster("web", "web", 10*time.Second)))},
	})
	p.waitVersion(t, resourcev3.RouteType, v)
	p.waitVersion(t, resourcev3.EndpointType, v)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	if code, who, _ := get(t, plainClient(), url); code != http.StatusOK || who != "web" {
		t.Fatalf("HTTP/1.1 on the mixed port: %d from %q", code, who)
	}
	h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}}
	if code, who, _ := get(t, h2c, url); code != http.StatusOK || who != "web" {
		t.Fatalf("h2c on the mixed port: %d from %q", code, who)
	}
	conn := dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	msg := []byte("\x00\x01binary protocol\n")
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("opaque TCP on the mixed port: %q, %v", got, err)
	}
}

func h2cOnly() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// TestTCPIdleTimeout closes an opaque TCP connection nobody uses.
func TestTCPIdleTimeout(t *testing.T) {
	cp := startControlPlane(t)
	p := startProxy(t, cp, "client")
	port := freePort(t)
	echo := echoServer(t)
	tp := &tcpv3.TcpProxy{StatPrefix: "tcp", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "echo"}, IdleTimeout: build.Duration(300 * time.Millisecond)}
	filter := &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: build.Any(tp)}}
	v := cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {simpleCluster("echo")},
		resourcev3.EndpointType: {build.LoadAssignment("echo", build.Endpoints(0, "z1", build.Address("127.0.0.1", uint32(echo.Port))))},
		resourcev3.ListenerType: {build.Listener("tcp", "127.0.0.1", port, corev3.TrafficDirection_OUTBOUND, filter)},
	})
	p.waitVersion(t, resourcev3.ListenerType, v)
	p.waitVersion(t, resourcev3.EndpointType, v)
	conn := dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	// Traffic keeps the connection open past the idle timeout...
	for i := range 6 {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "ping %d\n", i)
		buf := make([]byte, 7)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatalf("active connection closed at message %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ...silence closes it.
	_ = conn.SetReadDeadline(time.Now().Add(testenv.Timeout))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("idle connection still open: %v", err)
	}
}

// TestLocalityFailover sends traffic to the preferred priority and moves it
// to the next when the preferred endpoints go away.
func TestLocalityFailover(t *testing.T) {
	s := newScenario(t)
	local, remote := startBackend(t, "local", nil), startBackend(t, "remote", nil)
	c := simpleCluster("web")
	c.OutlierDetection = &clusterv3.OutlierDetection{
		ConsecutiveGatewayFailure: build.UInt32(1), EnforcingConsecutiveGatewayFailure: build.UInt32(100),
		BaseEjectionTime: build.Duration(time.Minute), MaxEjectionPercent: build.UInt32(100),
	}
	eps := []*endpointv3.ClusterLoadAssignment{build.LoadAssignment("web",
		build.Endpoints(0, "zone-a", addrs(local)...),
		build.Endpoints(1, "zone-b", addrs(remote)...))}
	s.publish([]*clusterv3.Cluster{c}, eps, withRetry(build.RouteToCluster("default", "web", 10*time.Second), "connect-failure", 1, 0))
	for range 10 {
		if _, who, _ := get(t, s.client, s.url("/")); who != "local" {
			t.Fatalf("with the local endpoint healthy, %q answered", who)
		}
	}
	_ = local.srv.Close()
	for i := range 10 {
		if code, who, reason := get(t, s.client, s.url("/")); code != http.StatusOK || who != "remote" {
			t.Fatalf("request %d after the local endpoint died: %d from %q (%s)", i, code, who, reason)
		}
	}
}
