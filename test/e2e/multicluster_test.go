package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/testenv/netlab"
)

// cluster is one local-mode cluster of a multi-cluster lab: its control
// plane (with federation and bundle endpoints in the node namespace), its
// configuration, and its CA root.
type cluster struct {
	*meshLab
	name, td    string
	cp          *localPlane
	root        string // PEM file
	token       func(sa string) string
	fed, bundle string // addresses
}

func startCluster(t *testing.T, lab *netlab.Lab, name string, port int) *cluster {
	t.Helper()
	c := &cluster{meshLab: newPlane(t, lab), name: name, td: name + ".example",
		fed: fmt.Sprintf("127.0.0.1:%d", port), bundle: fmt.Sprintf("127.0.0.1:%d", port+1)}
	c.cluster = name
	mesh := fmt.Sprintf("apiVersion: mesh.plexus.dev/v1alpha1\nkind: Mesh\nmetadata: {name: %s}\nspec: {clusterName: %s, trustDomain: %s}\n", name, name, c.td)
	c.cp, c.root, c.token = startOperator(t, c.meshLab, mesh, c.td,
		"--metrics-bind-address", "0", "--federation-address", c.fed, "--bundle-address", c.bundle)
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs(t)
		}
	})
	return c
}

// peer declares other as a peer of c, with other's root as the initial
// trust bundle (bundle, when given, replaces it: a wrong bundle).
func (c *cluster) peer(t *testing.T, other *cluster, gateway string, bundle []byte) {
	t.Helper()
	if bundle == nil {
		var err error
		if bundle, err = os.ReadFile(other.root); err != nil {
			t.Fatal(err)
		}
	}
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(string(bundle)), "\n", "\n    ")
	c.cp.apply(t, "peer-"+other.name, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {namespace: plexus-system, name: %[1]s-bundle}
stringData:
  bundle.pem: |
%[2]s
---
apiVersion: mesh.plexus.dev/v1alpha1
kind: MeshPeer
metadata: {name: %[1]s}
spec:
  clusterName: %[1]s
  trustDomain: %[3]s
  federationEndpoint: "%[4]s"
  gatewayAddresses: ["%[5]s:15443"]
  importStaleness: 30s
  trustBundle:
    secretRef: {namespace: plexus-system, name: %[1]s-bundle}
    endpointURL: https://%[6]s/bundle
    endpointSPIFFEID: spiffe://%[3]s/ns/plexus-system/sa/plexus-operator
    refreshInterval: 30s
`, other.name, indented, other.td, other.fed, gateway, other.bundle))
}

// logSays waits until the cluster's operator log holds want.
func (c *cluster) logSays(t *testing.T, want string) {
	t.Helper()
	testenv.Eventually(t, c.name+" operator logs "+want, func() error {
		b, err := os.ReadFile(filepath.Join(c.dir, "operator.log"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// startGateway runs west's east-west gateway in its own pod.
func (c *cluster) startGateway(t *testing.T, pod *netlab.Pod) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(c.dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := exec.CommandContext(context.Background(), bin.proxy, "gateway", "--xds-address", c.xds, "--node-id", "gateway."+c.name,
		"--cluster", c.name, "--ip", pod.IP, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	pod.Start(t, cmd, proxyUID)
	c.proxies["gateway"] = cmd
}

// TestTwoClustersThroughAnEastWestGateway federates east and west (local
// mode, one network): a client in east calls reviews, which only west
// runs and exports. The request crosses west's east-west gateway with
// mTLS end to end between the two sidecars, in two trust domains;
// un-exporting reviews withdraws it from east.
func TestTwoClustersThroughAnEastWestGateway(t *testing.T) {
	netlab.Skip(t)
	lab := netlab.New(t)
	east, west := startCluster(t, lab, "east", 15700), startCluster(t, lab, "west", 15710)

	// west runs and exports reviews; east knows it by a Service of its
	// own with no endpoints here, so the imported gateways are all it has.
	reviewsSvc := `apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {app: reviews}
  ports: [{name: http, port: 8080, targetPort: 8080}]
`
	west.cp.apply(t, "reviews", reviewsSvc)
	west.cp.apply(t, "export", "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {namespace: shop, name: reviews}\n")
	east.cp.apply(t, "reviews", reviewsSvc)
	gwPod, reviewsPod, clientPod := lab.Pod(t, "west-gw"), lab.Pod(t, "west-reviews"), lab.Pod(t, "east-client")
	serveApp(t, reviewsPod, "west-reviews", &west.failing)
	east.peer(t, west, gwPod.IP, nil)
	west.peer(t, east, "192.0.2.1", nil) // east has no gateway of its own
	west.logSays(t, "peer watching exports")

	west.startGateway(t, gwPod)
	west.startProxy(t, proxySpec{pod: reviewsPod, node: "reviews.west", workload: "reviews", sa: "reviews",
		appPorts: "8080/http", labels: "app=reviews", rootCA: west.root, credential: west.token("reviews")})
	east.startProxy(t, proxySpec{pod: clientPod, node: "client.east", workload: "client", sa: "client",
		labels: "app=client", rootCA: east.root, credential: east.token("client")})

	c := clientPod.HTTPClient(t)
	testenv.Eventually(t, "east's client reaches west's reviews", func() error {
		code, body, err := get(c, "http://10.96.0.10:8080/")
		if err == nil && (code != http.StatusOK || body != "west-reviews") {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		return err
	})
	for range 10 {
		if code, body, err := get(c, "http://10.96.0.10:8080/"); err != nil || code != http.StatusOK {
			t.Fatalf("call across clusters: %d %s %v", code, body, err)
		}
	}

	// west's sidecar terminated the session and saw east's client; the
	// gateway carried bytes without terminating anything.
	admin := reviewsPod.HTTPClient(t)
	_, metrics, err := get(admin, "http://127.0.0.1:15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, `direction="inbound"`) || !strings.Contains(metrics, `source_workload="client"`) {
		t.Errorf("west's reviews sidecar did not count requests from east's client:\n%s", grepLines(metrics, "plexus_requests_total"))
	}
	_, gwMetrics, err := get(gwPod.HTTPClient(t), "http://127.0.0.1:15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(gwMetrics, "plexus_requests_total{") || !strings.Contains(gwMetrics, "plexus_tcp_connections_opened_total{") {
		t.Errorf("the gateway must proxy TCP without terminating TLS:\n%s", grepLines(gwMetrics, "plexus_"))
	}

	// Un-exporting reviews withdraws it from east within seconds.
	west.cp.remove(t, "export")
	testenv.Eventually(t, "reviews withdrawn from east", func() error {
		code, _, err := get(c, "http://10.96.0.10:8080/")
		if err == nil && code == http.StatusOK {
			return fmt.Errorf("still reachable")
		}
		return nil
	})
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
