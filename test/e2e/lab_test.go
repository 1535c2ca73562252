package e2e

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/testenv/netlab"
)

// meshLab is one node's worth of pods: a client and two instances of the
// reviews service, each pod with its app, iptables rules and a
// plexus-proxy running as its own user, all reaching the control plane
// over Unix sockets in dir.
type meshLab struct {
	lab     *netlab.Lab
	dir     string
	xds, ca string
	client  *netlab.Pod
	reviews []*netlab.Pod
	proxies map[string]*exec.Cmd
	// failing makes the reviews apps answer 503.
	failing atomic.Bool
	// cluster is the Mesh's clusterName; "" means e2e.
	cluster string
}

const proxyUID = 1337

// statusPort serves each proxy's /ready and /metrics on the pod's address,
// as in an injected pod; Prometheus scrapes it.
const statusPort = 15020

func newMeshLab(t *testing.T) *meshLab {
	t.Helper()
	netlab.Skip(t)
	m := newPlane(t, netlab.New(t))
	m.client = m.lab.Pod(t, "client")
	for i := range 2 {
		pod := m.lab.Pod(t, fmt.Sprintf("reviews%d", i+1))
		serveApp(t, pod, fmt.Sprintf("reviews-%d", i+1), &m.failing)
		m.reviews = append(m.reviews, pod)
	}
	t.Cleanup(func() {
		if t.Failed() {
			m.dumpLogs(t)
		}
	})
	return m
}

// newPlane is a control plane's directory and sockets in lab, without pods:
// several planes can share a lab as clusters on one network.
func newPlane(t *testing.T, lab *netlab.Lab) *meshLab {
	t.Helper()
	dir, err := os.MkdirTemp("", "plexus-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	// The proxies run as their own user and must reach the sockets and
	// read their credentials here.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return &meshLab{
		lab: lab, dir: dir, proxies: map[string]*exec.Cmd{},
		xds: "unix://" + filepath.Join(dir, "xds.sock"), ca: "unix://" + filepath.Join(dir, "ca.sock"),
	}
}

// serveApp runs the application of a reviews pod: it answers with its
// name, /slow takes two seconds, and while failing is set it answers 503.
func serveApp(t *testing.T, pod *netlab.Pod, name string, failing *atomic.Bool) {
	ln := pod.Listen(t, "0.0.0.0:8080")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, name+" is failing", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
		}
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// file writes a file the proxies may read.
func (m *meshLab) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(m.dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// openSockets waits for the control plane's sockets and lets the
// proxies' user connect to them.
func (m *meshLab) openSockets(t *testing.T) {
	t.Helper()
	for _, addr := range []string{m.xds, m.ca} {
		path := strings.TrimPrefix(addr, "unix://")
		testenv.Eventually(t, "control plane socket "+path, func() error {
			return os.Chmod(path, 0o666)
		})
	}
}

type proxySpec struct {
	pod                      *netlab.Pod
	node, workload, sa       string
	appPorts, labels, rootCA string
	credential               string
}

// startProxy installs the pod's interception rules and starts its proxy,
// then waits until the proxy is ready: configured and holding its
// certificate.
func (m *meshLab) startProxy(t *testing.T, s proxySpec) {
	t.Helper()
	s.pod.Exec(t, bin.proxy, "init", "--proxy-uid", fmt.Sprint(proxyUID), "--exclude-inbound-ports", fmt.Sprint(statusPort))
	logFile, err := os.Create(filepath.Join(m.dir, s.node+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	args := []string{"sidecar", "--xds-address", m.xds, "--node-id", s.node,
		"--workload", s.workload, "--namespace", "shop", "--service-account", s.sa, "--cluster", cmp.Or(m.cluster, "e2e"), "--ip", s.pod.IP,
		"--ca-address", m.ca, "--ca-root-file", s.rootCA, "--credential-file", s.credential, "--log-level", "debug",
		"--status-address", fmt.Sprintf(":%d", statusPort)}
	if s.appPorts != "" {
		args = append(args, "--app-ports", s.appPorts)
	}
	if s.labels != "" {
		args = append(args, "--labels", s.labels)
	}
	cmd := exec.CommandContext(context.Background(), bin.proxy, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	s.pod.Start(t, cmd, proxyUID)
	m.proxies[s.node] = cmd
	admin := s.pod.HTTPClient(t)
	testenv.Eventually(t, s.node+" ready", func() error {
		code, body, err := get(admin, "http://127.0.0.1:15000/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/ready: %d %s", code, body)
		}
		return err
	})
}

func get(c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stopProxy ends a proxy the way kubelet does, with SIGTERM.
func (m *meshLab) stopProxy(t *testing.T, node string) {
	t.Helper()
	cmd := m.proxies[node]
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func (m *meshLab) dumpLogs(t *testing.T) {
	for _, pod := range append([]*netlab.Pod{m.client}, m.reviews...) {
		if pod == nil {
			continue // a plane without the default pods
		}
		t.Logf("--- iptables nat counters in %s:\n%s", pod.Name, pod.Exec(t, "iptables-save", "-c", "-t", "nat"))
	}
	logs, _ := filepath.Glob(filepath.Join(m.dir, "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- last lines of %s:\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
}

// call sends n requests from the client pod to the reviews service's
// address and returns the answering instances; any failure is an error.
func (m *meshLab) call(t *testing.T, vip, path string, n int) ([]string, error) {
	c := m.client.HTTPClient(t)
	var got []string
	for range n {
		code, body, err := get(c, "http://"+vip+":8080"+path)
		if err != nil {
			return got, err
		}
		if code != http.StatusOK {
			return got, fmt.Errorf("status %d: %s", code, body)
		}
		got = append(got, body)
	}
	return got, nil
}

// startLoggedHere starts a process in the test's own network, its output
// in logPath; the test's cleanup kills it, and shows the log when the test
// failed.
func startLoggedHere(t *testing.T, logPath, path string, args ...string) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("--- %s:\n%s", filepath.Base(logPath), b)
		}
	})
}
