package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// controlPlane is what differs between a cluster and local mode: how
// configuration is applied and how an instance leaves the service.
type controlPlane interface {
	// apply creates or replaces the object in doc (YAML) under name.
	apply(t *testing.T, name, doc string)
	remove(t *testing.T, name string)
	// dropInstance takes reviews instance i (0 or 1) out of the service.
	dropInstance(t *testing.T, i int)
}

const timeoutPolicy = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: TrafficPolicy
metadata: {namespace: shop, name: reviews-timeout}
spec:
  targetRefs: [{group: "", kind: Service, name: reviews}]
  timeouts: {request: 500ms}
`

const splitRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {namespace: shop, name: reviews-split}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 8080}]
  rules:
  - backendRefs:
    - {name: reviews-v1, port: 8080, weight: 0}
    - {name: reviews-v2, port: 8080, weight: 100}
`

const readersPolicy = `
apiVersion: mesh.plexus.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: reviews-readers}
spec:
  targetRefs: [{group: "", kind: Service, name: reviews}]
  rules:
  - from: [{spiffeIDs: ["spiffe://e2e.example/ns/shop/sa/client"]}]
    to: [{methods: [GET]}]
`

// onlyFrom checks that n calls all reach instance want.
func onlyFrom(t *testing.T, m *meshLab, vip, want string) func() error {
	return func() error {
		got, err := m.call(t, vip, "/", 10)
		if err != nil {
			return err
		}
		for _, g := range got {
			if g != want {
				return fmt.Errorf("answered by %v, want only %s", got, want)
			}
		}
		return nil
	}
}

// runScenario is the control plane's end-to-end check: traffic through
// two sidecars with mTLS, a TrafficPolicy timeout, an HTTPRoute split and
// an instance leaving, each taking effect while traffic keeps flowing.
func runScenario(t *testing.T, m *meshLab, cp controlPlane, vip string) {
	t.Run("traffic reaches both instances through the sidecars", func(t *testing.T) {
		testenv.Eventually(t, "both instances answer", func() error {
			got, err := m.call(t, vip, "/", 20)
			if err != nil {
				return err
			}
			if !slices.Contains(got, "reviews-1") || !slices.Contains(got, "reviews-2") {
				return fmt.Errorf("answered by %v, want both instances (round robin)", got)
			}
			return nil
		})
	})

	t.Run("a TrafficPolicy timeout takes effect", func(t *testing.T) {
		if got, err := m.call(t, vip, "/slow", 1); err != nil {
			t.Fatalf("before the policy a slow request succeeds: %v %v", got, err)
		}
		cp.apply(t, "reviews-timeout", timeoutPolicy)
		testenv.Eventually(t, "slow requests time out", func() error {
			code, body, err := get(m.client.HTTPClient(t), "http://"+vip+":8080/slow")
			if err != nil {
				return err
			}
			if code != http.StatusGatewayTimeout {
				return fmt.Errorf("status %d %q, want 504 from the proxy", code, body)
			}
			return nil
		})
		cp.remove(t, "reviews-timeout")
		testenv.Eventually(t, "slow requests succeed again", func() error {
			_, err := m.call(t, vip, "/slow", 1)
			return err
		})
	})

	t.Run("an HTTPRoute weighted split takes effect", func(t *testing.T) {
		cp.apply(t, "reviews-split", splitRoute)
		testenv.Eventually(t, "all traffic to v2", onlyFrom(t, m, vip, "reviews-2"))
		cp.remove(t, "reviews-split")
		testenv.Eventually(t, "both instances again", func() error {
			got, err := m.call(t, vip, "/", 20)
			if err == nil && (!slices.Contains(got, "reviews-1") || !slices.Contains(got, "reviews-2")) {
				err = fmt.Errorf("answered by %v", strings.Join(got, ","))
			}
			return err
		})
	})

	t.Run("an AuthorizationPolicy is enforced on the caller's identity", func(t *testing.T) {
		cp.apply(t, "reviews-readers", readersPolicy)
		c := m.client.HTTPClient(t)
		post := func() (int, string, error) {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+vip+":8080/", strings.NewReader("x"))
			resp, err := c.Do(req)
			if err != nil {
				return 0, "", err
			}
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("X-Plexus-Local-Reply"), nil
		}
		testenv.Eventually(t, "POST refused, GET allowed", func() error {
			code, reason, err := post()
			if err == nil && (code != http.StatusForbidden || reason != "rbac_access_denied") {
				err = fmt.Errorf("POST: %d %q, want 403 rbac_access_denied", code, reason)
			}
			if err != nil {
				return err
			}
			_, err = m.call(t, vip, "/", 4)
			return err
		})
		cp.remove(t, "reviews-readers")
		testenv.Eventually(t, "POST allowed again", func() error {
			code, _, err := post()
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("POST: %d", code)
			}
			return err
		})
	})

	t.Run("an instance that leaves is out of rotation", func(t *testing.T) {
		cp.dropInstance(t, 0)
		testenv.Eventually(t, "only reviews-2 answers", onlyFrom(t, m, vip, "reviews-2"))
	})
}
