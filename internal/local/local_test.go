package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

const meshYAML = `apiVersion: mesh.plexus.dev/v1alpha1
kind: Mesh
metadata: {name: local}
spec: {clusterName: east, trustDomain: east.example}
`

const servicesYAML = `apiVersion: v1
kind: Service
metadata: {namespace: shop, name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 8080}]
---
# a comment-only document is fine
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: ratings}
spec:
  selector: {app: ratings}
  ports: [{name: grpc, port: 9090}]
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func proxy(ip, app string) nodemeta.Metadata {
	return nodemeta.Metadata{Workload: app + "-v1", Namespace: "shop", ServiceAccount: app, IP: ip,
		Ports: []nodemeta.Port{{Port: 8080, Protocol: "http"}}, Labels: map[string]string{"app": app}}
}

func TestLoadMakesConnectedProxiesEndpoints(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"mesh.yaml": meshYAML, "services.yaml": servicesYAML, "authz.yaml": authzYAML})
	web := proxy("127.0.0.20", "web")
	web.Egress = "./reviews"
	m, err := Load(dir, map[string]nodemeta.Metadata{
		"reviews-1": proxy("127.0.0.11", "reviews"),
		"reviews-2": proxy("127.0.0.12", "reviews"),
		"web-1":     web,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := m.Service(model.NamespacedName{Namespace: "shop", Name: "reviews"})
	if svc == nil || len(svc.Endpoints) != 2 {
		t.Fatalf("reviews: %+v", svc)
	}
	ep := svc.Endpoints[0]
	if ep.Address.String() != "127.0.0.11" || ep.Ports["http"] != 8080 || ep.Identity != "spiffe://east.example/ns/shop/sa/reviews" || ep.Workload.Name != "reviews-v1" {
		t.Fatalf("endpoint %+v", ep)
	}
	if rs := m.Service(model.NamespacedName{Namespace: "shop", Name: "ratings"}); rs == nil || len(rs.Endpoints) != 0 || rs.Ports[0].Protocol != model.ProtocolGRPC {
		t.Fatalf("ratings: %+v", rs)
	}
	if len(m.Workloads) != 3 {
		t.Fatalf("%d workloads, want one per proxy", len(m.Workloads))
	}
	for _, w := range m.Workloads {
		if w.Name == "web-v1" && (len(w.Egress) != 1 || w.Egress[0].String() != "shop/reviews") {
			t.Errorf("web's egress rules %v, want the ones its proxy declared", w.Egress)
		}
	}
	if len(m.AuthorizationPolicies) != 1 || m.AuthorizationPolicies[0].Action != model.Deny || m.AuthorizationPolicies[0].Key.Namespace != "shop" {
		t.Fatalf("authorization policies %+v, want the file's DENY policy", m.AuthorizationPolicies)
	}
}

const authzYAML = `apiVersion: mesh.plexus.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: no-deletes}
spec:
  targetRefs: [{group: "", kind: Service, name: reviews}]
  action: DENY
  rules: [{to: [{methods: [DELETE]}]}]
`

func TestLoadErrors(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		want  string
	}{
		"no mesh":       {map[string]string{"s.yaml": servicesYAML}, "no Mesh in"},
		"two meshes":    {map[string]string{"a.yaml": meshYAML, "b.yaml": strings.Replace(meshYAML, "name: local", "name: other", 1)}, "a second Mesh (other)"},
		"unknown kind":  {map[string]string{"m.yaml": meshYAML, "c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}, "ConfigMap is not used in local mode"},
		"not yaml kind": {map[string]string{"m.yaml": meshYAML, "x.yaml": "kind: Gadget\napiVersion: example.com/v1\n"}, "x.yaml, document 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := Load(dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() = %v, want %q", err, tc.want)
			}
		})
	}
}

type recorder struct {
	mu sync.Mutex
	m  *model.Mesh
}

func (r *recorder) Update(m *model.Mesh) { r.mu.Lock(); r.m = m; r.mu.Unlock() }
func (r *recorder) get() *model.Mesh     { r.mu.Lock(); defer r.mu.Unlock(); return r.m }

func TestProviderFollowsFilesAndProxies(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"mesh.yaml": meshYAML, "services.yaml": servicesYAML})
	var mu sync.Mutex
	proxies := map[string]nodemeta.Metadata{"reviews-1": proxy("127.0.0.11", "reviews")}
	rec := &recorder{}
	p := New(Config{Dir: dir, Interval: 20 * time.Millisecond, Publisher: rec, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Proxies: func() map[string]nodemeta.Metadata {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]nodemeta.Metadata{}
			for k, v := range proxies {
				out[k] = v
			}
			return out
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	endpoints := func(n int) func() error {
		return func() error {
			m := rec.get()
			if m == nil {
				return errors.New("nothing published")
			}
			if got := len(m.Service(model.NamespacedName{Namespace: "shop", Name: "reviews"}).Endpoints); got != n {
				return fmt.Errorf("%d endpoints, want %d", got, n)
			}
			return nil
		}
	}
	testenv.Eventually(t, "initial mesh", endpoints(1))

	mu.Lock()
	proxies["reviews-2"] = proxy("127.0.0.12", "reviews")
	mu.Unlock()
	p.ProxiesChanged()
	testenv.Eventually(t, "a new proxy becomes an endpoint", endpoints(2))

	// A policy file appears; then a broken file is ignored with the last
	// good mesh kept.
	writeFiles(t, dir, map[string]string{"policy.yaml": `apiVersion: mesh.plexus.dev/v1alpha1
kind: TrafficPolicy
metadata: {namespace: shop, name: reviews}
spec:
  targetRefs: [{group: "", kind: Service, name: reviews}]
  loadBalancer: {type: Random}
`})
	testenv.Eventually(t, "the new policy applies", func() error {
		if m := rec.get(); len(m.TrafficPolicies) != 1 {
			return errors.New("no policy yet")
		}
		return nil
	})
	writeFiles(t, dir, map[string]string{"broken.yaml": "kind: [\n"})
	time.Sleep(100 * time.Millisecond) // several polls
	if m := rec.get(); len(m.TrafficPolicies) != 1 || len(m.Service(model.NamespacedName{Namespace: "shop", Name: "reviews"}).Endpoints) != 2 {
		t.Fatal("a broken file replaced the last good mesh")
	}
}
