package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// hostPlane is a local-mode control plane and proxies as plain processes
// sharing the host's network, each workload on loopback addresses of its
// own: proxies without interception (--interception none), as on a VM or
// in make demo. Nothing needs privileges.
type hostPlane struct {
	dir, xds, ca, caDir, root string
	dashboard                 string
	net                       string // 127.N.M: this test's addresses
}

func newHostPlane(t *testing.T, mesh string) *hostPlane {
	t.Helper()
	dir := t.TempDir()
	h := &hostPlane{dir: dir, caDir: filepath.Join(dir, "ca"), net: fmt.Sprintf("127.%d.%d", 100+os.Getpid()%100, time.Now().Nanosecond()%200+20)}
	conf := filepath.Join(dir, "config")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "mesh.yaml"), []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	h.xds, h.ca = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	h.dashboard = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	h.start(t, "operator", bin.operator, "--local", conf, "--xds-address", h.xds, "--ca-address", h.ca, "--ca-dir", h.caDir,
		"--metrics-bind-address", "0", "--dashboard-address", h.dashboard)
	testenv.Eventually(t, "local CA", func() error {
		_, err := identity.JoinKey(h.caDir)
		return err
	})
	h.root = filepath.Join(h.caDir, identity.FileRoots)
	return h
}

// addr is this test's address .n.
func (h *hostPlane) addr(n int) string { return fmt.Sprintf("%s.%d", h.net, n) }

func (h *hostPlane) start(t *testing.T, name, path string, args ...string) {
	t.Helper()
	startLoggedHere(t, filepath.Join(h.dir, name+".log"), path, args...)
}

// sidecar starts a proxy without interception for workload (service
// account sa) at address .n, its application at .n+100.
func (h *hostPlane) sidecar(t *testing.T, n int, workload, sa, appPorts, labels, upstreams string) {
	t.Helper()
	key, err := identity.JoinKey(h.caDir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.MintJoinToken(key, spiffeid.RequireFromString("spiffe://e2e.example/ns/shop/sa/"+sa), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred := filepath.Join(h.dir, workload+".token")
	if err := os.WriteFile(cred, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := h.addr(n) + ":15000"
	args := []string{"sidecar", "--xds-address", h.xds, "--node-id", workload + ".shop", "--workload", workload, "--namespace", "shop",
		"--service-account", sa, "--cluster", "e2e", "--ip", h.addr(n), "--interception", "none", "--app-address", h.addr(n + 100),
		"--admin-address", admin, "--ca-address", h.ca, "--ca-root-file", h.root, "--credential-file", cred, "--log-level", "debug"}
	for flag, v := range map[string]string{"--app-ports": appPorts, "--labels": labels, "--upstreams": upstreams} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	h.start(t, workload, bin.proxy, args...)
	testenv.Eventually(t, workload+" ready", func() error {
		code, body, err := testenv.Get("http://" + admin + "/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/ready: %d %s", code, body)
		}
		return err
	})
}

// app serves name at .n+100 on port: the application beside the proxy at .n.
func (h *hostPlane) app(t *testing.T, n, port int, name string) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", fmt.Sprintf("%s:%d", h.addr(n+100), port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

const explicitMesh = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
metadata: {name: e2e}
spec: {clusterName: e2e, trustDomain: e2e.example}
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 8080}]
`

// TestProxiesWithoutInterception runs two workloads on one host network,
// no namespaces, no iptables, no root: the client's application calls
// reviews at its proxy's local address, and the request reaches reviews'
// application through reviews' proxy over mTLS, which its metrics show
// with the caller's identity. An upstream that is no service answers 503
// saying so.
func TestProxiesWithoutInterception(t *testing.T) {
	if bin.proxy == "" {
		t.Skip("the e2e binaries are built when running as root")
	}
	h := newHostPlane(t, explicitMesh)
	h.app(t, 2, 8080, "reviews-1")
	h.sidecar(t, 2, "reviews-1", "reviews", "8080/http", "app=reviews", "")
	h.sidecar(t, 1, "client", "client", "", "app=client", "reviews:9080="+h.addr(1)+":19080,shop/nowhere:80="+h.addr(1)+":19081")

	testenv.Eventually(t, "client reaches reviews", func() error {
		code, body, err := testenv.Get("http://" + h.addr(1) + ":19080/")
		if err == nil && (code != http.StatusOK || body != "reviews-1") {
			err = fmt.Errorf("%d %q", code, body)
		}
		return err
	})
	_, metrics, err := testenv.Get("http://" + h.addr(2) + ":15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, `source_workload="client"`) {
		t.Errorf("reviews' proxy did not see the client's identity (no mTLS?):\n%s", grepLines(metrics, "plexus_requests_total"))
	}
	code, body, err := testenv.Get("http://" + h.addr(1) + ":19081/")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "shop/nowhere:80 is not a service port this proxy can reach") {
		t.Errorf("unknown upstream: %d %q %v", code, body, err)
	}
	// The control plane scrapes the proxies itself (no Prometheus): its
	// topology shows the client calling reviews.
	testenv.Eventually(t, "the dashboard's topology shows the edge", func() error {
		// Steady traffic: rates come from counters rising between scrapes.
		for range 5 {
			_, _, _ = testenv.Get("http://" + h.addr(1) + ":19080/")
		}
		var topo dashboard.Topology
		if err := getJSON("http://"+h.dashboard+"/api/topology", &topo); err != nil {
			return err
		}
		for _, e := range topo.Edges {
			if e.Source == dashboard.WorkloadID("e2e", "shop", "client") && e.Target == dashboard.ServiceID("e2e", "shop", "reviews") && e.Signals.RPS > 0 {
				return nil
			}
		}
		return fmt.Errorf("no client → reviews edge with traffic in %+v (source %q %s)", topo.Edges, topo.Source, topo.SourceError)
	})
	// Plaintext straight to reviews' proxy is refused (STRICT mTLS).
	if code, _, err := testenv.Get("http://" + h.addr(2) + ":8080/"); err == nil {
		t.Errorf("plaintext to reviews' proxy answered %d", code)
	}
}

// getJSON decodes the JSON at url into v.
func getJSON(url string, v any) error {
	code, body, err := testenv.Get(url)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	return json.Unmarshal([]byte(body), v)
}
