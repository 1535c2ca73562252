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
	// The federation API listens on the node's bridge address, where the
	// cluster's east-west gateway (in a pod) can forward peers to it.
	c := &cluster{meshLab: newPlane(t, lab), name: name, td: name + ".example",
		fed: fmt.Sprintf("%s:%d", netlab.Gateway, port), bundle: fmt.Sprintf("127.0.0.1:%d", port+1)}
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
// trust bundle (bundle, when given, replaces it: a wrong bundle). The
// federation API is reached directly, or through other's gateway when
// viaGateway.
func (c *cluster) peer(t *testing.T, other *cluster, gateway string, bundle []byte, viaGateway ...bool) {
	t.Helper()
	endpoint := other.fed
	if len(viaGateway) > 0 && viaGateway[0] {
		endpoint = gateway + ":15443"
	}
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
`, other.name, indented, other.td, endpoint, gateway, other.bundle))
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

// logSaysAll waits until one line of the operator's log holds every want.
func (c *cluster) logSaysAll(t *testing.T, want ...string) {
	t.Helper()
	testenv.Eventually(t, c.name+" operator logs "+strings.Join(want, " and "), func() error {
		b, err := os.ReadFile(filepath.Join(c.dir, "operator.log"))
		if err != nil {
			return err
		}
	lines:
		for _, line := range strings.Split(string(b), "\n") {
			for _, w := range want {
				if !strings.Contains(line, w) {
					continue lines
				}
			}
			return nil
		}
		return fmt.Errorf("no such line")
	})
}

// startGateway runs the plane's east-west gateway in pod, as the
// gateway's service account (gatewayAccount): rootCA and credential get it
// the certificate it presents to the control plane.
func (m *meshLab) startGateway(t *testing.T, pod *netlab.Pod, rootCA, credential string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(m.dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := exec.CommandContext(context.Background(), bin.proxy, "gateway", "--xds-address", m.xds, "--node-id", "gateway.plexus-system",
		"--cluster", m.cluster, "--ip", pod.IP, "--log-level", "debug",
		"--ca-address", m.ca, "--ca-root-file", rootCA, "--credential-file", credential)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	pod.Start(t, cmd, proxyUID)
	m.proxies["gateway"] = cmd
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
	// own with no endpoints here, exported too so that it joins the
	// clusterset service: the imported gateways are all it has.
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
	east.cp.apply(t, "export", "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {namespace: shop, name: reviews}\n")
	gwPod, reviewsPod, clientPod := lab.Pod(t, "west-gw"), lab.Pod(t, "west-reviews"), lab.Pod(t, "east-client")
	serveApp(t, reviewsPod, "west-reviews", &west.failing)
	// east reaches west's federation API through west's gateway, by its
	// server name; west reaches east's directly (east has no gateway).
	west.startGateway(t, gwPod, west.root, west.token(gatewayAccount))
	east.peer(t, west, gwPod.IP, nil, true)
	west.peer(t, east, "192.0.2.1", nil)
	west.logSays(t, "peer watching exports")

	west.startProxy(t, proxySpec{pod: reviewsPod, node: "reviews-west.shop", workload: "reviews", sa: "reviews",
		appPorts: "8080/http", labels: "app=reviews", rootCA: west.root, credential: west.token("reviews")})
	east.startProxy(t, proxySpec{pod: clientPod, node: "client-east.shop", workload: "client", sa: "client",
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

	// east's client counts the requests toward west, where they were served.
	_, clientMetrics, err := get(clientPod.HTTPClient(t), "http://127.0.0.1:15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(grepLines(clientMetrics, "plexus_requests_total{"), `destination_cluster="west"`) {
		t.Errorf("east's client did not label its requests with west:\n%s", grepLines(clientMetrics, "plexus_requests_total{"))
	}

	// west's sidecar terminated the session and saw east's client; the
	// gateway carried bytes without terminating anything.
	// Its bundles from the CA name east's cluster: callers from east.example
	// are counted as east's.
	admin := reviewsPod.HTTPClient(t)
	testenv.Eventually(t, "west counts east's client as east's", func() error {
		if _, _, err := get(c, "http://10.96.0.10:8080/"); err != nil {
			return err
		}
		_, metrics, err := get(admin, "http://127.0.0.1:15000/metrics")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, "plexus_requests_total{") && strings.Contains(l, `direction="inbound"`) &&
				strings.Contains(l, `source_workload="client"`) && strings.Contains(l, `source_cluster="east"`) {
				return nil
			}
		}
		return fmt.Errorf("no inbound requests from east's client:\n%s", grepLines(metrics, "plexus_requests_total{"))
	})
	passesTLSThrough(t, gwPod)

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

// reachesEach calls url until every one of bodies has answered: the
// service is balanced across all of them.
func reachesEach(t *testing.T, c *http.Client, url string, bodies ...string) {
	t.Helper()
	seen := map[string]int{}
	testenv.Eventually(t, "answers from "+strings.Join(bodies, " and "), func() error {
		code, body, err := get(c, url)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		seen[body]++
		for _, b := range bodies {
			if seen[b] == 0 {
				return fmt.Errorf("answered by %v", seen)
			}
		}
		return nil
	})
}

// passesTLSThrough checks, from the gateway's metrics, that it carried
// connections without terminating any request.
func passesTLSThrough(t *testing.T, gateway *netlab.Pod) {
	t.Helper()
	_, metrics, err := get(gateway.HTTPClient(t), "http://127.0.0.1:15000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(metrics, "plexus_requests_total{") || !strings.Contains(metrics, "plexus_tcp_connections_opened_total{") {
		t.Errorf("the gateway must pass TLS through, carrying TCP and no HTTP:\n%s", grepLines(metrics, "plexus_"))
	}
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

// TestThreeClustersFailoverAndTrust federates a with b and c, which both
// run and export reviews: a's client is balanced across both peers'
// gateways, and keeps being served by b, without a failed request, when
// c's gateway stops. A fourth peer, d, whose MeshPeer in a holds the wrong
// trust bundle, is refused: its exports never reach a.
func TestThreeClustersFailoverAndTrust(t *testing.T) {
	netlab.Skip(t)
	lab := netlab.New(t)
	a, b, c, d := startCluster(t, lab, "a", 15720), startCluster(t, lab, "b", 15730), startCluster(t, lab, "c", 15740), startCluster(t, lab, "d", 15750)
	svc := func(name, ip string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {namespace: shop, name: %s}\nspec:\n  clusterIP: %s\n  clusterIPs: [%s]\n  selector: {app: %s}\n  ports: [{name: http, port: 8080, targetPort: 8080}]\n", name, ip, ip, name)
	}
	export := func(name string) string {
		return "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {namespace: shop, name: " + name + "}\n"
	}
	// a calls both by Services of its own, exported so they join the
	// clusterset services.
	a.cp.apply(t, "reviews", svc("reviews", "10.96.0.10"))
	a.cp.apply(t, "ratings", svc("ratings", "10.96.0.11"))
	a.cp.apply(t, "export", export("reviews")+"---\n"+export("ratings"))
	gateways := map[*cluster]*netlab.Pod{}
	for _, peer := range []*cluster{b, c} {
		peer.cp.apply(t, "reviews", svc("reviews", "10.96.0.10"))
		peer.cp.apply(t, "export", export("reviews"))
		gateways[peer] = lab.Pod(t, peer.name+"-gw")
		pod := lab.Pod(t, peer.name+"-reviews")
		serveApp(t, pod, peer.name+"-reviews", &peer.failing)
		a.peer(t, peer, gateways[peer].IP, nil)
		peer.peer(t, a, "192.0.2.1", nil)
		peer.logSays(t, "peer watching exports")
		peer.startGateway(t, gateways[peer], peer.root, peer.token(gatewayAccount))
		peer.startProxy(t, proxySpec{pod: pod, node: "reviews-" + peer.name + ".shop", workload: "reviews", sa: "reviews",
			appPorts: "8080/http", labels: "app=reviews", rootCA: peer.root, credential: peer.token("reviews")})
	}
	// d exports ratings, but a holds b's root as d's bundle.
	d.cp.apply(t, "ratings", svc("ratings", "10.96.0.11"))
	d.cp.apply(t, "export", export("ratings"))
	d.peer(t, a, "192.0.2.1", nil)
	wrong, err := os.ReadFile(b.root)
	if err != nil {
		t.Fatal(err)
	}
	a.peer(t, d, "192.0.2.4", wrong)
	clientPod := lab.Pod(t, "a-client")
	a.startProxy(t, proxySpec{pod: clientPod, node: "client-a.shop", workload: "client", sa: "client",
		labels: "app=client", rootCA: a.root, credential: a.token("client")})
	client := clientPod.HTTPClient(t)

	// Both peers serve: requests are spread across their gateways.
	reachesEach(t, client, "http://10.96.0.10:8080/", "b-reviews", "c-reviews")
	seen := map[string]int{}
	for range 40 {
		code, body, err := get(client, "http://10.96.0.10:8080/")
		if err != nil || code != http.StatusOK {
			t.Fatalf("call: %d %s %v", code, body, err)
		}
		seen[body]++
	}
	if seen["b-reviews"] < 10 || seen["c-reviews"] < 10 {
		t.Errorf("40 calls answered %v: want both peers' gateways in rotation", seen)
	}

	// c's gateway stops: every request is still served, by b.
	gw := c.proxies["gateway"]
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait()
	seen = map[string]int{}
	for i := range 60 {
		code, body, err := get(client, "http://10.96.0.10:8080/")
		if err != nil || code != http.StatusOK {
			t.Fatalf("call %d after c's gateway stopped: %d %s %v", i, code, body, err)
		}
		seen[body]++
	}
	if seen["b-reviews"] != 60 {
		t.Errorf("after c's gateway stopped, answered by %v", seen)
	}

	// d was refused: a's operator could not verify it, and ratings, which
	// only d exports, is not reachable from a.
	a.logSaysAll(t, `"msg":"federation stream to peer failed"`, `"peer":"d"`, "x509: certificate signed by unknown authority")
	if code, _, err := get(client, "http://10.96.0.11:8080/"); err == nil && code == http.StatusOK {
		t.Error("ratings, exported by a peer a does not trust, was reachable")
	}
}
