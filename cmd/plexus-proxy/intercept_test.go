package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/testenv/netlab"
)

const interceptBootstrap = `
static_resources:
  listeners:
  - name: virtualOutbound
    address: {socket_address: {address: 0.0.0.0, port_value: 15001}}
    use_original_dst: true
    default_filter_chain:
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: passthrough, cluster: PassthroughCluster}
  - name: virtualInbound
    address: {socket_address: {address: 0.0.0.0, port_value: 15006}}
    use_original_dst: true
    traffic_direction: INBOUND
    filter_chains:
    - filter_chain_match: {destination_port: 8080}
      filters: [%[1]s]
  - name: 0.0.0.0_80
    address: {socket_address: {address: 0.0.0.0, port_value: 80}}
    bind_to_port: false
    filter_chains:
    - filters: [%[2]s]
  routes:
  - name: inbound
    virtual_hosts:
    - name: app
      domains: ["*"]
      response_headers_to_add: [{header: {key: x-via, value: inbound-sidecar}}]
      routes: [{match: {prefix: /}, route: {cluster: "inbound|8080", timeout: 10s}}]
  - name: outbound-80
    virtual_hosts:
    - name: svc
      domains: ["svc.test", "svc.test:80", "10.96.0.10", "10.96.0.10:80"]
      response_headers_to_add: [{header: {key: x-via, value: outbound-sidecar}}]
      routes: [{match: {prefix: /}, route: {cluster: svc, timeout: 10s}}]
  clusters:
  - {name: PassthroughCluster, type: ORIGINAL_DST, lb_policy: CLUSTER_PROVIDED, connect_timeout: 2s}
  - name: "inbound|8080"
    type: STATIC
    connect_timeout: 2s
    load_assignment: {cluster_name: "inbound|8080", endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]}
  - name: svc
    type: STATIC
    connect_timeout: 2s
    load_assignment: {cluster_name: svc, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %[3]s, port_value: 9090}}}}]}]}
`

func hcm(stat, route string) string {
	return fmt.Sprintf(`{name: envoy.filters.network.http_connection_manager, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: %s, rds: {route_config_name: %s, config_source: {ads: {}}}, http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]}}`, stat, route)
}

// TestTransparentInterception builds a pod in a network namespace, joined
// to a "node" namespace by a veth pair, installs the rules with
// "plexus-proxy init" and runs the proxy as its own user. Inbound traffic to
// the app, outbound traffic to a service VIP and passthrough traffic to a
// non-mesh address all go through the proxy; after "init --remove" nothing
// is redirected.
func TestTransparentInterception(t *testing.T) {
	netlab.Skip(t)
	bin := buildProxy(t)
	lab := netlab.New(t)
	node, pod := lab.Node, lab.Pod(t, "pod")

	// Servers: the app in the pod, a mesh service and a non-mesh echo
	// server on the node.
	serve := func(ln net.Listener, name string) {
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s saw %s", name, r.Host)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	serve(pod.Listen(t, "127.0.0.1:8080"), "app")
	serve(node.Listen(t, netlab.Gateway+":9090"), "svc")
	echo := node.Listen(t, netlab.Gateway+":7070")
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	pod.Exec(t, bin, "init", "--proxy-uid", "1337", "--exclude-inbound-ports", "15000")
	if rules := pod.Exec(t, "iptables", "-t", "nat", "-S"); !strings.Contains(rules, "PLEXUS_OUTPUT") {
		t.Fatalf("init did not install the rules:\n%s", rules)
	}

	file := filepath.Join(filepath.Dir(bin), "intercept-bootstrap.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, interceptBootstrap, hcm("inbound", "inbound"), hcm("outbound", "outbound-80"), netlab.Gateway), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := exec.CommandContext(context.Background(), bin, "sidecar", "--bootstrap", file, "--admin-address", "127.0.0.1:15000")
	proxy.Stderr = os.Stderr
	pod.Start(t, proxy, 1337)
	podClient, nodeClient := pod.HTTPClient(t), node.HTTPClient(t)
	testenv.Eventually(t, "proxy ready in the pod", func() error {
		resp, err := doGet(podClient, "http://127.0.0.1:15000/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/ready: %d", resp.StatusCode)
		}
		return nil
	})

	check := func(c *http.Client, url, host, wantBody, wantVia string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != wantBody || resp.Header.Get("X-Via") != wantVia {
			t.Fatalf("GET %s: %q via %q, want %q via %q", url, body, resp.Header.Get("X-Via"), wantBody, wantVia)
		}
	}
	// Inbound: the node calls the pod's IP on the app port.
	check(nodeClient, "http://"+pod.IP+":8080/", "app.test", "app saw app.test", "inbound-sidecar")
	// Outbound: the app calls a service VIP that nothing listens on.
	check(podClient, "http://10.96.0.10/", "svc.test", "svc saw svc.test", "outbound-sidecar")
	// Passthrough: opaque TCP to an address outside the mesh.
	var conn net.Conn
	pod.Do(t, func() {
		var err error
		if conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", netlab.Gateway+":7070"); err != nil {
			t.Error(err)
		}
	})
	if conn == nil {
		t.FailNow()
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(conn, "through the passthrough cluster")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "through the passthrough cluster\n" {
		t.Fatalf("passthrough echo: %q, %v", line, err)
	}
	conn.Close()
	if n := scrape(t, podClient, `plexus_tcp_connections_opened_total{`); n == "" {
		t.Fatal("the passthrough connection did not go through the proxy")
	}

	// Removing the rules leaves the pod's traffic alone: the VIP is
	// unreachable again.
	pod.Exec(t, bin, "init", "--remove")
	if rules := pod.Exec(t, "iptables", "-t", "nat", "-S"); strings.Contains(rules, "PLEXUS") {
		t.Fatalf("rules left after --remove:\n%s", rules)
	}
	short := pod.HTTPClient(t)
	short.Timeout = 2 * time.Second
	if resp, err := doGet(short, "http://10.96.0.10/"); err == nil {
		resp.Body.Close()
		t.Fatal("the VIP answered after the rules were removed")
	}
}

func scrape(t *testing.T, c *http.Client, prefix string) string {
	t.Helper()
	resp, err := doGet(c, "http://127.0.0.1:15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func doGet(c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}
