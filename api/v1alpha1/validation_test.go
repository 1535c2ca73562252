package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// The samples include an HTTPRoute.
	gatewayCRDs, err := testenv.GatewayAPICRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = testenv.Start(gatewayCRDs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

var seq atomic.Int64

// object parses a manifest and gives it a unique name, so cases do not
// collide in the shared API server.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("test manifest does not parse: %v", err)
	}
	u.SetName(fmt.Sprintf("case-%d", seq.Add(1)))
	if !strings.HasPrefix(u.GetKind(), "Mesh") {
		u.SetNamespace("default")
	}
	return u
}

const (
	validMesh = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
spec:
  clusterName: east
  trustDomain: east.example
`
	validPeer = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: MeshPeer
spec:
  clusterName: west
  trustDomain: west.example
  federationEndpoint: west-gw.example.com:15443
  gatewayAddresses: ["203.0.113.10:15443"]
  trustBundle:
    secretRef: {namespace: plexus-system, name: west-bundle}
`
)

// TestValidObjectsAreAccepted guards against rules so strict that they
// refuse what the docs show.
func TestValidObjectsAreAccepted(t *testing.T) {
	tests := map[string]string{
		"minimal mesh": validMesh,
		"full mesh": `
apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
spec:
  clusterName: east-1
  network: net-a
  trustDomain: east.example
  mtls:
    mode: PERMISSIVE
    namespaces: [{namespace: legacy, mode: PERMISSIVE}, {namespace: payments, mode: STRICT}]
  identity:
    spire: {workloadAPISocket: "unix:///run/spire/agent-sockets/spire-agent.sock"}
  traffic:
    loadBalancer: {type: LeastRequest}
    connectTimeout: 2s
    requestTimeout: 30s
    retries: {attempts: 3, perTryTimeout: 10s, retryOn: [5xx, retriable-status-codes], retriableStatusCodes: [409], budget: {percent: 10, minRetriesPerSecond: 0}}
  injection:
    proxyImage: registry.example/plexus-proxy:v1
    resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
  observability:
    serviceMonitor: {labels: {release: prometheus}, interval: 15s}
    prometheusRule: {alertLabels: {team: platform}, slo: {availability: "99.95", latencyThreshold: 250ms, latency: "99.5"}}
    grafana: {namespace: monitoring}
  federation:
    eastWestGateway: {enabled: true, port: 15443, serviceType: NodePort}
`,
		"traffic policy on a service port and an import": `
apiVersion: mesh.plexus.dev/v1alpha1
kind: TrafficPolicy
spec:
  targetRefs:
  - {group: "", kind: Service, name: reviews, sectionName: http}
  - {group: "", kind: Service, name: reviews}
  - {group: multicluster.x-k8s.io, kind: ServiceImport, name: reviews}
  timeouts: {connect: 1s, request: 5s, idle: 0s}
  retries: {attempts: 2, perTryTimeout: 2s}
  circuitBreaker: {maxRequests: 100}
  outlierDetection: {consecutiveGatewayErrors: 3, interval: 5s, baseEjectionTime: 30s, maxEjectionPercent: 100}
`,
		"authorization policy": `
apiVersion: mesh.plexus.dev/v1alpha1
kind: AuthorizationPolicy
spec:
  targetRefs: [{group: "", kind: Service, name: payments}]
  action: DENY
  rules:
  - from: [{spiffeIDs: ["spiffe://east.example/ns/shop/sa/frontend"]}, {trustDomains: [west.example], namespaces: [shop]}]
    to: [{ports: [8080], methods: [POST], paths: ["/api/*", "/healthz"]}]
  - {}
`,
		"peer with bundle endpoint": `
apiVersion: mesh.plexus.dev/v1alpha1
kind: MeshPeer
spec:
  clusterName: west
  trustDomain: west.example
  federationEndpoint: "[2001:db8::1]:15443"
  gatewayAddresses: ["[2001:db8::7]:15443", "198.51.100.7:443"]
  trustBundle:
    secretRef: {namespace: plexus-system, name: west-bundle, key: ca.pem}
    endpointURL: https://west-gw.example.com:15443/bundle
    endpointSPIFFEID: spiffe://west.example/ns/plexus-system/sa/plexus-operator
    refreshInterval: 1h
  importStaleness: 1h
`,
	}
	for name, manifest := range tests {
		t.Run(name, func(t *testing.T) {
			if err := env.Client.Create(context.Background(), object(t, manifest)); err != nil {
				t.Fatalf("valid object refused: %v", err)
			}
		})
	}
}

// TestInvalidObjectsAreRefused proves each invariant is enforced by the API
// server with a message that says what to fix.
func TestInvalidObjectsAreRefused(t *testing.T) {
	tests := map[string]struct {
		manifest string
		want     string
	}{
		// Mesh
		"mesh without clusterName": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: Mesh\nspec: {trustDomain: east.example}",
			want:     "spec.clusterName: Required value",
		},
		"mesh clusterName not a DNS label": {
			manifest: strings.Replace(validMesh, "clusterName: east", "clusterName: East_1", 1),
			want:     "must be a DNS label",
		},
		"mesh trust domain with a scheme": {
			manifest: strings.Replace(validMesh, "trustDomain: east.example", "trustDomain: spiffe://east.example", 1),
			want:     "must be a SPIFFE trust domain",
		},
		"mesh mTLS mode unknown": {
			manifest: validMesh + "  mtls: {mode: DISABLED}\n",
			want:     `Unsupported value: "DISABLED": supported values: "STRICT", "PERMISSIVE"`,
		},
		"mesh with both identity providers": {
			manifest: validMesh + "  identity: {builtin: {}, spire: {workloadAPISocket: 'unix:///s.sock'}}\n",
			want:     "set exactly one of identity.builtin",
		},
		"mesh certificate TTL too short": {
			manifest: validMesh + "  identity: {builtin: {certificateTTL: 10m}}\n",
			want:     "certificateTTL must be between 1h and 720h",
		},
		"mesh SPIRE socket not a unix URL": {
			manifest: validMesh + "  identity: {spire: {workloadAPISocket: /run/spire/agent.sock}}\n",
			want:     "spec.identity.spire.workloadAPISocket in body should match '^unix:///",
		},
		"mesh latency threshold between histogram buckets": {
			manifest: validMesh + "  observability: {prometheusRule: {slo: {latencyThreshold: 300ms}}}\n",
			want:     "latencyThreshold must be a bound of the request duration histogram",
		},
		"mesh scrape interval too long for the SLO windows": {
			manifest: validMesh + "  observability: {serviceMonitor: {interval: 2m}}\n",
			want:     "scrape interval must be between 5s and 1m",
		},
		"mesh load balancer unknown": {
			manifest: validMesh + "  traffic: {loadBalancer: {type: Maglev}}\n",
			want:     `Unsupported value: "Maglev"`,
		},
		"mesh connect timeout too long": {
			manifest: validMesh + "  traffic: {connectTimeout: 10m}\n",
			want:     "connectTimeout must be between 1ms and 5m",
		},
		"mesh per-try timeout longer than request timeout": {
			manifest: validMesh + "  traffic: {requestTimeout: 1s, retries: {perTryTimeout: 2s}}\n",
			want:     "traffic.retries.perTryTimeout must not be longer than traffic.requestTimeout",
		},
		"mesh too many retries": {
			manifest: validMesh + "  traffic: {retries: {attempts: 11}}\n",
			want:     "spec.traffic.retries.attempts: Invalid value: 11: spec.traffic.retries.attempts in body should be less than or equal to 10",
		},
		"mesh status codes without retry condition": {
			manifest: validMesh + "  traffic: {retries: {retryOn: [5xx], retriableStatusCodes: [503]}}\n",
			want:     "retriableStatusCodes is only used when retryOn includes 'retriable-status-codes'",
		},
		"mesh SLO below 50 percent": {
			manifest: validMesh + "  observability: {prometheusRule: {slo: {availability: '9.5'}}}\n",
			want:     "availability must be a percentage between 50 and 99.9999",
		},
		"mesh duration in the wrong format": {
			manifest: validMesh + "  observability: {serviceMonitor: {interval: 1 minute}}\n",
			want:     "spec.observability.serviceMonitor.interval in body should match",
		},
		"mesh gateway port out of range": {
			manifest: validMesh + "  federation: {eastWestGateway: {enabled: true, port: 70000}}\n",
			want:     "should be less than or equal to 65535",
		},
		"mesh duplicate namespace override": {
			manifest: validMesh + "  mtls: {namespaces: [{namespace: a, mode: STRICT}, {namespace: a, mode: PERMISSIVE}]}\n",
			want:     `spec.mtls.namespaces[1]: Duplicate value: {"namespace":"a"}`,
		},
		// TrafficPolicy
		"traffic policy targets a Deployment": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: apps, kind: Deployment, name: web}], loadBalancer: {type: Random}}",
			want:     "targetRefs may only name a Service",
		},
		"traffic policy without settings": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}]}",
			want:     "a TrafficPolicy must set at least one of",
		},
		"traffic policy without targets": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {loadBalancer: {type: Random}}",
			want:     "spec.targetRefs: Required value",
		},
		"traffic policy names a target twice": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}, {group: '', kind: Service, name: web}], loadBalancer: {type: Random}}",
			want:     "targetRefs must not name the same target",
		},
		"traffic policy empty circuit breaker": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}], circuitBreaker: {}}",
			want:     "circuitBreaker must set at least one of",
		},
		"traffic policy ejection over 100 percent": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}], outlierDetection: {maxEjectionPercent: 150}}",
			want:     "spec.outlierDetection.maxEjectionPercent in body should be less than or equal to 100",
		},
		"traffic policy per-try longer than request": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}], timeouts: {request: 1s}, retries: {perTryTimeout: 5s}}",
			want:     "retries.perTryTimeout must not be longer than timeouts.request",
		},
		"traffic policy zero connect timeout": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: TrafficPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}], timeouts: {connect: 0s}}",
			want:     "timeouts.connect must be between 1ms and 5m",
		},
		// AuthorizationPolicy
		"authorization with targetRefs and selector": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {targetRefs: [{group: '', kind: Service, name: web}], selector: {matchLabels: {app: web}}, rules: [{}]}",
			want:     "set targetRefs or selector, not both",
		},
		"authorization action unknown": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {action: AUDIT, rules: [{}]}",
			want:     `Unsupported value: "AUDIT": supported values: "ALLOW", "DENY"`,
		},
		"authorization without rules": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {action: DENY, rules: []}",
			want:     "spec.rules: Invalid value: 0: spec.rules in body should have at least 1 items",
		},
		"authorization empty source": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{from: [{}]}]}",
			want:     "a from entry must set at least one of spiffeIDs, trustDomains or namespaces",
		},
		"authorization malformed SPIFFE ID": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{from: [{spiffeIDs: ['spiffe://East Example/ns/a']}]}]}",
			want:     "must be a SPIFFE ID",
		},
		"authorization relative path": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{to: [{paths: ['api/*']}]}]}",
			want:     "must be a path starting with '/'",
		},
		"authorization wildcard inside path": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{to: [{paths: ['/api/*/orders']}]}]}",
			want:     "'*' only at the end",
		},
		"authorization empty destination": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {rules: [{to: [{}]}]}",
			want:     "a to entry must set at least one of ports, methods or paths",
		},
		"authorization targets a ServiceImport": {
			manifest: "apiVersion: mesh.plexus.dev/v1alpha1\nkind: AuthorizationPolicy\nspec: {targetRefs: [{group: multicluster.x-k8s.io, kind: ServiceImport, name: web}], rules: [{}]}",
			want:     "use selector to pick pods by label",
		},
		// MeshPeer
		"peer endpoint identity in another trust domain": {
			manifest: validPeer + "    endpointURL: https://west-gw.example.com/bundle\n    endpointSPIFFEID: spiffe://east.example/ns/x/sa/y\n",
			want:     "trustBundle.endpointSPIFFEID must be an identity in the peer's trustDomain",
		},
		"peer bundle endpoint without its identity": {
			manifest: validPeer + "    endpointURL: https://west-gw.example.com/bundle\n",
			want:     "trustBundle.endpointURL and trustBundle.endpointSPIFFEID go together",
		},
		"peer bundle endpoint over plain http": {
			manifest: validPeer + "    endpointURL: http://west-gw.example.com/bundle\n    endpointSPIFFEID: spiffe://west.example/x\n",
			want:     "spec.trustBundle.endpointURL in body should match '^https://",
		},
		"peer federation endpoint port out of range": {
			manifest: strings.Replace(validPeer, "west-gw.example.com:15443", "west-gw.example.com:99999", 1),
			want:     "must be host:port",
		},
		"peer gateway by DNS name": {
			manifest: strings.Replace(validPeer, `["203.0.113.10:15443"]`, `["west-gw.example.com:15443"]`, 1),
			want:     "must be ip:port",
		},
		"peer gateway port out of range": {
			manifest: strings.Replace(validPeer, `["203.0.113.10:15443"]`, `["203.0.113.10:65536"]`, 1),
			want:     "must be ip:port",
		},
		"peer without gateways": {
			manifest: strings.Replace(validPeer, `["203.0.113.10:15443"]`, "[]", 1),
			want:     "spec.gatewayAddresses in body should have at least 1 items",
		},
		"peer bundle refreshed too often": {
			manifest: validPeer + "    refreshInterval: 5s\n",
			want:     "refreshInterval must be between 30s and 24h",
		},
		"peer bundle secret without namespace": {
			manifest: strings.Replace(validPeer, "namespace: plexus-system, ", "", 1),
			want:     "spec.trustBundle.secretRef.namespace: Required value",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), object(t, tc.manifest))
			if err == nil {
				t.Fatalf("invalid object accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say what to fix:\n got: %v\nwant: %q", err, tc.want)
			}
		})
	}
}

// TestImmutableFields proves identity-bearing fields cannot change after
// creation.
func TestImmutableFields(t *testing.T) {
	tests := map[string]struct {
		manifest string
		field    string
		newValue string
		want     string
	}{
		"mesh clusterName":     {validMesh, "clusterName", "west", "clusterName cannot be changed"},
		"mesh trustDomain":     {validMesh, "trustDomain", "other.example", "trustDomain cannot be changed"},
		"peer clusterName":     {validPeer, "clusterName", "north", "clusterName cannot be changed: delete this MeshPeer"},
		"peer trustDomain":     {validPeer, "trustDomain", "north.example", "trustDomain cannot be changed: delete this MeshPeer"},
		"mutable mesh network": {validMesh, "network", "net-b", ""},
	}
	ctx := context.Background()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := object(t, tc.manifest)
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			if err := unstructured.SetNestedField(obj.Object, tc.newValue, "spec", tc.field); err != nil {
				t.Fatal(err)
			}
			err := env.Client.Update(ctx, obj)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("mutable field refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("change of %s accepted; want %q", tc.field, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error does not say what to do:\n got: %v\nwant: %q", err, tc.want)
			}
		})
	}
}
