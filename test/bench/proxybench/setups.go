package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// setup is one way of carrying requests from fortio to the backend.
type setup struct {
	name string
	// start launches the proxies and returns the URL to load and the
	// processes whose CPU and memory are measured.
	start func(ctx context.Context) (url string, procs []*os.Process, stop func(), err error)
}

func setups(o options, backend string) []setup {
	return []setup{
		{name: "direct (no proxy)", start: func(context.Context) (string, []*os.Process, func(), error) {
			return "http://" + backend + "/", nil, func() {}, nil
		}},
		{name: "plexus, 1 sidecar", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			return plexusChain(ctx, o, backend, 1, false)
		}},
		{name: "plexus, 1 sidecar, --concurrency 1", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			o.proxyArgs = []string{"--concurrency", "1"}
			return plexusChain(ctx, o, backend, 1, false)
		}},
		{name: "plexus, 2 sidecars (h2c)", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			return plexusChain(ctx, o, backend, 2, false)
		}},
		{name: "plexus, 2 sidecars (mTLS)", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			return plexusChain(ctx, o, backend, 2, true)
		}},
		{name: "nginx", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			return startNginx(ctx, o, backend)
		}},
		{name: "haproxy", start: func(ctx context.Context) (string, []*os.Process, func(), error) {
			return startHAProxy(ctx, o, backend)
		}},
	}
}

func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

const hcmTemplate = `{name: envoy.filters.network.http_connection_manager, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: bench, rds: {route_config_name: routes, config_source: {ads: {}}}, http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]}}`

// plexusBootstrap renders one proxy: a listener on port to a cluster of
// target, speaking h2 (h2c or mTLS) when http2 is set.
func plexusBootstrap(port int, target string, http2 bool, tlsIn, tlsOut bool, pki *pki, id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "static_resources:\n  listeners:\n  - name: bench\n    address: {socket_address: {address: 127.0.0.1, port_value: %d}}\n    filter_chains:\n    - filters: [%s]\n", port, hcmTemplate)
	if tlsIn {
		b.WriteString(`      transport_socket: {name: tls, typed_config: {"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext, require_client_certificate: true, common_tls_context: {tls_certificate_sds_secret_configs: [{name: default}], validation_context_sds_secret_config: {name: ROOTCA}}}}` + "\n")
	}
	fmt.Fprintf(&b, "  routes:\n  - name: routes\n    virtual_hosts: [{name: all, domains: ['*'], routes: [{match: {prefix: /}, route: {cluster: upstream, timeout: 30s}}]}]\n")
	host, port2, _ := net.SplitHostPort(target)
	fmt.Fprintf(&b, "  clusters:\n  - name: upstream\n    type: STATIC\n    connect_timeout: 2s\n    load_assignment: {cluster_name: upstream, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}]}]}\n", host, port2)
	if http2 {
		b.WriteString(`    typed_extension_protocol_options: {envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {"@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions, explicit_http_config: {http2_protocol_options: {}}}}` + "\n")
	}
	if tlsOut {
		b.WriteString(`    transport_socket: {name: tls, typed_config: {"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext, common_tls_context: {tls_certificate_sds_secret_configs: [{name: default}], validation_context_sds_secret_config: {name: ROOTCA}}}}` + "\n")
	}
	if pki != nil {
		cert, key := pki.issue(id)
		fmt.Fprintf(&b, "  secrets:\n  - {name: default, tls_certificate: {certificate_chain: {inline_string: %q}, private_key: {inline_string: %q}}}\n  - {name: ROOTCA, validation_context: {trusted_ca: {inline_string: %q}}}\n", cert, key, pki.caPEM)
	}
	return b.String()
}

// plexusChain starts n sidecars in a row in front of the backend: the
// first is the client's, the last the server's.
func plexusChain(ctx context.Context, o options, backend string, n int, mtls bool) (string, []*os.Process, func(), error) {
	var ca *pki
	if mtls {
		var err error
		if ca, err = newPKI(); err != nil {
			return "", nil, nil, err
		}
	}
	var procs []*os.Process
	stop := func() {
		for _, p := range procs {
			_ = p.Kill()
			_, _ = p.Wait()
		}
	}
	target := backend
	var url string
	for i := n - 1; i >= 0; i-- {
		port, err := freePort()
		if err != nil {
			stop()
			return "", nil, nil, err
		}
		last := i == n-1 // beside the backend
		http2 := !last   // sidecar to sidecar is HTTP/2
		cfg := plexusBootstrap(port, target, http2, mtls && i > 0, mtls && !last, ca, fmt.Sprintf("spiffe://bench.example/ns/bench/sa/hop%d", i))
		file := filepath.Join(o.workdir, fmt.Sprintf("plexus-%d-%d-mtls-%v.yaml", n, i, mtls))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			stop()
			return "", nil, nil, err
		}
		admin, err := freePort()
		if err != nil {
			stop()
			return "", nil, nil, err
		}
		args := append([]string{"sidecar", "--bootstrap", file, "--admin-address", fmt.Sprintf("127.0.0.1:%d", admin), "--log-level", "error"}, o.proxyArgs...)
		cmd := exec.CommandContext(ctx, o.proxy, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop()
			return "", nil, nil, err
		}
		procs = append(procs, cmd.Process)
		if err := waitReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/ready", admin)); err != nil {
			stop()
			return "", nil, nil, err
		}
		target = fmt.Sprintf("127.0.0.1:%d", port)
		url = "http://" + target + "/"
	}
	return url, procs, stop, nil
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become ready", url)
}

func waitListening(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// startNginx runs nginx as a reverse proxy with upstream keep-alive, two
// workers (the machine's cores, as the Go proxy uses).
func startNginx(ctx context.Context, o options, backend string) (string, []*os.Process, func(), error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return "", nil, nil, errors.New("nginx is not installed (hack/bench-deps.sh installs it from Debian's packages as root)")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	dir := filepath.Join(o.workdir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 100000;
  upstream backend { server %[2]s; keepalive 128; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, dir, backend, port)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return "", nil, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", file, "-e", filepath.Join(dir, "error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); killChildren(cmd.Process.Pid) }
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr); err != nil {
		stop()
		return "", nil, nil, err
	}
	procs := append([]*os.Process{cmd.Process}, children(cmd.Process.Pid)...)
	return "http://" + addr + "/", procs, stop, nil
}

// startHAProxy runs HAProxy in HTTP mode with connection reuse and two
// threads.
func startHAProxy(ctx context.Context, o options, backend string) (string, []*os.Process, func(), error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return "", nil, nil, errors.New("haproxy is not installed (hack/bench-deps.sh installs it from Debian's packages as root)")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	conf := fmt.Sprintf(`global
  nbthread 2
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:%d
  default_backend be
backend be
  server s1 %s
`, port, backend)
	file := filepath.Join(o.workdir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return "", nil, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", file)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr); err != nil {
		stop()
		return "", nil, nil, err
	}
	return "http://" + addr + "/", []*os.Process{cmd.Process}, stop, nil
}
