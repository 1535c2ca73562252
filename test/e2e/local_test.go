package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

const localMesh = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
metadata: {name: e2e}
spec: {clusterName: e2e, trustDomain: e2e.example}
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {app: reviews}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews-v1}
spec:
  clusterIP: 10.96.0.11
  clusterIPs: [10.96.0.11]
  selector: {app: reviews, version: v1}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews-v2}
spec:
  clusterIP: 10.96.0.12
  clusterIPs: [10.96.0.12]
  selector: {app: reviews, version: v2}
  ports: [{name: http, port: 8080, targetPort: 8080}]
`

// localPlane is plexus-operator --local: configuration is files, and the
// proxies that are connected are the endpoints.
type localPlane struct {
	m   *meshLab
	dir string
}

func (l *localPlane) apply(t *testing.T, name, doc string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.dir, name+".yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (l *localPlane) remove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(l.dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

// dropInstance stops the instance's proxy: a workload that disconnects
// is no longer an endpoint.
func (l *localPlane) dropInstance(t *testing.T, i int) {
	t.Helper()
	l.m.stopProxy(t, []string{"reviews-1.shop", "reviews-2.shop"}[i])
}

// startLocal starts plexus-operator --local inside the lab's node
// namespace, with its metrics on metricsAddr there ("0": none), and
// returns the plane, the mesh CA's root file and a join token minter.
func startLocal(t *testing.T, m *meshLab, metricsAddr string) (cp *localPlane, rootFile string, token func(sa string) string) {
	t.Helper()
	return startOperator(t, m, localMesh, "e2e.example", "--metrics-bind-address", metricsAddr)
}

// startOperator is startLocal for a Mesh of trust domain td, with more
// operator flags.
func startOperator(t *testing.T, m *meshLab, mesh, td string, args ...string) (cp *localPlane, rootFile string, token func(sa string) string) {
	t.Helper()
	cp = &localPlane{m: m, dir: filepath.Join(m.dir, "config")}
	if err := os.Mkdir(cp.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cp.apply(t, "mesh", mesh)
	caDir := filepath.Join(m.dir, "ca")
	logFile, err := os.Create(filepath.Join(m.dir, "operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	// Several operators share a lab's node: no dashboard unless args ask.
	op := exec.CommandContext(context.Background(), bin.operator, append([]string{"--local", cp.dir, "--xds-address", m.xds, "--ca-address", m.ca,
		"--ca-dir", caDir, "--dashboard-address", "0"}, args...)...)
	op.Stdout, op.Stderr = logFile, logFile
	m.lab.Node.Start(t, op, 0)
	m.openSockets(t)

	// The CA appears with the Mesh; proxies trust its root and prove who
	// they are with join tokens minted from its key.
	var key []byte
	testenv.Eventually(t, "local CA", func() error {
		var err error
		key, err = identity.JoinKey(caDir)
		return err
	})
	root, err := os.ReadFile(filepath.Join(caDir, identity.FileRoots))
	if err != nil {
		t.Fatal(err)
	}
	rootFile = m.file(t, "root.pem", root)
	token = func(account string) string {
		ns, sa := accountOf(account)
		tok, err := identity.MintJoinToken(key, spiffeid.RequireFromString("spiffe://"+td+"/ns/"+ns+"/sa/"+sa), time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m.file(t, ns+"-"+sa+".token", []byte(tok))
	}
	return cp, rootFile, token
}

// accountOf reads a service account as namespace/name, or a name in
// namespace shop.
func accountOf(account string) (namespace, name string) {
	if ns, sa, ok := strings.Cut(account, "/"); ok {
		return ns, sa
	}
	return "shop", account
}

// gatewayAccount is the service account the control plane lets claim the
// gateway role: the operator's namespace's plexus-east-west-gateway.
const gatewayAccount = "plexus-system/plexus-east-west-gateway"

// startLocalPods starts the proxies of the client and of both reviews
// instances against the local plane.
func startLocalPods(t *testing.T, m *meshLab, rootFile string, token func(string) string) {
	t.Helper()
	clientToken, reviewsToken := token("client"), token("reviews")
	m.startProxy(t, proxySpec{pod: m.client, node: "client.shop", workload: "client", sa: "client", labels: "app=client", rootCA: rootFile, credential: clientToken})
	for i, pod := range m.reviews {
		version := []string{"v1", "v2"}[i]
		m.startProxy(t, proxySpec{pod: pod, node: "reviews-" + version[1:] + ".shop", workload: "reviews-" + version, sa: "reviews",
			appPorts: "8080/http", labels: "app=reviews,version=" + version, rootCA: rootFile, credential: reviewsToken})
	}
}

// TestLocalModeEndToEnd runs the scenario against plexus-operator
// --local: no Kubernetes, join tokens instead of ServiceAccount tokens.
func TestLocalModeEndToEnd(t *testing.T) {
	m := newMeshLab(t)
	cp, rootFile, token := startLocal(t, m, "0")
	startLocalPods(t, m, rootFile, token)
	runScenario(t, m, cp, "10.96.0.10")
}
