package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildProxy builds the plexus-proxy binary once for all tests, into a
// directory any user may read (the interception test runs it as another
// user).
func buildProxy(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plexus-proxy-test-")
		if err != nil {
			buildErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "plexus-proxy")
		out, err := exec.CommandContext(context.Background(), "go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const bootstrapTemplate = `
node: {id: static-test}
static_resources:
  listeners:
  - name: outbound
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: outbound
          rds: {route_config_name: routes, config_source: {ads: {}, resource_api_version: V3}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  routes:
  - name: routes
    virtual_hosts:
    - name: all
      domains: ["*"]
      routes:
      - match: {prefix: /}
        route: {cluster: app, timeout: 30s}
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`

// TestSidecarBinaryWithStaticBootstrap runs the real binary with no control
// plane, checks the admin API, and proves SIGTERM lets a request in flight
// finish.
func TestSidecarBinaryWithStaticBootstrap(t *testing.T) {
	bin := buildProxy(t)
	started := make(chan struct{}, 1)
	app := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "hello from the app")
	})}
	appLn, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })

	port, adminPort, statusPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	file := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, bootstrapTemplate, port, appLn.Addr().(*net.TCPAddr).Port), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), bin, "sidecar", "--bootstrap", file,
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", adminPort), "--status-address", fmt.Sprintf("127.0.0.1:%d", statusPort), "--drain-timeout", "10s", "--log-level", "debug")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	testenv.Eventually(t, "proxy ready", func() error {
		code, body, err := testenv.Get(admin + "/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/ready: %d %s", code, body)
		}
		return err
	})
	code, body, err := testenv.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil || code != http.StatusOK || body != "hello from the app" {
		t.Fatalf("through the proxy: %d %q %v", code, body, err)
	}
	for path, want := range map[string]string{
		"/config_dump": `"name":"outbound"`,
		"/stats":       `"name": "app"`,
		"/metrics":     `plexus_requests_total{`,
	} {
		_, body, err := testenv.Get(admin + path)
		if err != nil || !strings.Contains(strings.ReplaceAll(body, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("%s does not contain %s: %v\n%s", path, want, err, body)
		}
	}
	// The status port serves probes and metrics, and nothing else.
	status := fmt.Sprintf("http://127.0.0.1:%d", statusPort)
	for path, want := range map[string]int{"/ready": http.StatusOK, "/metrics": http.StatusOK, "/config_dump": http.StatusNotFound, "/debug/pprof/": http.StatusNotFound} {
		if code, _, err := testenv.Get(status + path); err != nil || code != want {
			t.Errorf("status port %s: %d %v, want %d", path, code, err, want)
		}
	}

	// Graceful drain: a request in flight when SIGTERM arrives completes.
	slow := make(chan string, 1)
	go func() {
		code, body, err := testenv.Get(fmt.Sprintf("http://127.0.0.1:%d/slow", port))
		slow <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	<-started
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := <-slow; got != "200 hello from the app <nil>" {
		t.Fatalf("request in flight during drain: %s", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("proxy exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("proxy did not exit after draining")
	}
	if _, _, err := testenv.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Fatal("the listener still accepts connections after shutdown")
	}
}
