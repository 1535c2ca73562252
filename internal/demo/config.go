package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cluster is one of the demo's clusters.
type cluster struct {
	name, td string
	net      int
	// dir holds its configuration (config/), CA (ca/) and logs.
	dir string
}

func (c *cluster) configDir() string { return filepath.Join(c.dir, "config") }
func (c *cluster) caDir() string     { return filepath.Join(c.dir, "ca") }

// write puts a configuration file in place; the control plane reloads it
// within a second.
func (c *cluster) write(name, doc string) error {
	path := filepath.Join(c.configDir(), name+".yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path) // never half a file
}

// meshYAML is a cluster's Mesh: its identity, mTLS STRICT, and its
// east-west gateway's port.
func meshYAML(c *cluster, p Plan) string {
	return fmt.Sprintf(`apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
metadata: {name: %[1]s}
spec:
  clusterName: %[1]s
  trustDomain: %[2]s
  mtls: {mode: STRICT}
  federation:
    eastWestGateway: {enabled: true, port: %[3]d}
`, c.name, c.td, p.Port(offGateway))
}

// eastApp is east's part of the sample application: frontend calls
// reviews, whose traffic a route splits 90/10 between v1 and the v2
// canary, under a TrafficPolicy of retries and outlier detection.
func eastApp(p Plan) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {namespace: shop, name: frontend}
spec:
  selector: {app: frontend}
  ports: [{name: http, port: 80, targetPort: %[1]d}]
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: %[1]d}]
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews-v1}
spec:
  selector: {app: reviews, version: v1}
  ports: [{name: http, port: 9080, targetPort: %[1]d}]
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews-v2}
spec:
  selector: {app: reviews, version: v2}
  ports: [{name: http, port: 9080, targetPort: %[1]d}]
---
apiVersion: mesh.plexus.dev/v1alpha1
kind: TrafficPolicy
metadata: {namespace: shop, name: reviews-resilience}
spec:
  targetRefs: [{group: "", kind: Service, name: reviews}, {group: "", kind: Service, name: reviews-v1}, {group: "", kind: Service, name: reviews-v2}]
  timeouts: {request: 2s}
  retries: {attempts: 2, perTryTimeout: 1s, retryOn: [connect-failure, refused-stream, 5xx]}
  outlierDetection: {consecutive5xxErrors: 5, interval: 5s, baseEjectionTime: 15s, maxEjectionPercent: 50}
`, p.Port(offHTTP))
}

// canaryYAML splits reviews between v1 and v2 by weight.
func canaryYAML(v2 int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {namespace: shop, name: reviews-canary}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs:
    - {name: reviews-v1, port: 9080, weight: %d}
    - {name: reviews-v2, port: 9080, weight: %d}
`, 100-v2, v2)
}

// westApp is west's part: ratings, over gRPC, exported to peers. East
// knows it only through federation.
func westApp(p Plan) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {namespace: shop, name: ratings}
spec:
  selector: {app: ratings}
  ports: [{name: grpc, port: 9090, targetPort: %d}]
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata: {namespace: shop, name: ratings}
`, p.Port(offGRPC))
}

// peerYAML declares other as c's peer: its federation API, gateway and
// bundle endpoint, trusting its root to start with.
func peerYAML(other *cluster, p Plan, root []byte) string {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(string(root)), "\n", "\n    ")
	return fmt.Sprintf(`apiVersion: v1
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
  gatewayAddresses: ["%[5]s"]
  importStaleness: 1m
  trustBundle:
    secretRef: {namespace: plexus-system, name: %[1]s-bundle}
    endpointURL: https://%[6]s/bundle
    endpointSPIFFEID: spiffe://%[3]s/ns/plexus-system/sa/plexus-operator
    refreshInterval: 1m
`, other.name, indented, other.td, p.Addr(p.Host(other.net, 1), offFederation), p.Addr(p.Host(other.net, 2), offGateway), p.Addr(p.Host(other.net, 1), offBundle))
}
