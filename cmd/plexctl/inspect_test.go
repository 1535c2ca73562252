package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/dashboard/dashboardtest"
)

// plexctl runs the command line against the fixture control plane.
func plexctl(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--server", server))
	err := cmd.Execute()
	return out.String(), err
}

func fixture(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(dashboard.New(dashboard.Config{
		Snapshot: dashboardtest.Snapshot,
		Metrics:  dashboardtest.Metrics{EdgeList: dashboardtest.Edges()},
		NACKs: func() []dashboard.NACK {
			return []dashboard.NACK{{Proxy: "reviews-v1-1.shop", Type: "listeners", Message: "port 9080 in use"}}
		},
		ProxyConfig: func(id string) (json.RawMessage, bool) {
			if id != "frontend-1.shop" {
				return nil, false
			}
			return json.RawMessage(`{"node":"frontend-1.shop","versions":{"listeners":"v1"},
				"listeners":[{"name":"explicit|10.0.0.10:19999","address":{"socketAddress":{"address":"10.0.0.10","portValue":19999}},"trafficDirection":"OUTBOUND","filterChains":[{}]}],
				"clusters":[{"name":"outbound|9080|shop|reviews","type":"EDS","lbPolicy":"ROUND_ROBIN","transportSocket":{"typedConfig":{"sni":"outbound.9080.reviews.shop.svc.clusterset.local"}}}],
				"endpoints":[{"clusterName":"outbound|9080|shop|reviews","endpoints":[{"lbEndpoints":[{"endpoint":{"address":{"socketAddress":{"address":"10.0.0.21","portValue":9080}}}}]}]}],
				"routes":[]}`), true
		},
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestStatus(t *testing.T) {
	server := fixture(t)
	out, err := plexctl(t, server, "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CLUSTER east", "west.example", "frontend-1.shop", "none", "spiffe://east.example/ns/shop/sa/frontend", "port 9080 in use"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not show %q:\n%s", want, out)
		}
	}
	out, err = plexctl(t, server, "status", "-o", "json")
	var st dashboard.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Cluster != "east" || len(st.NACKs) != 1 {
		t.Errorf("status -o json: %v\n%s", err, out)
	}
	out, err = plexctl(t, server, "status", "-o", "yaml")
	if err != nil || yaml.Unmarshal([]byte(out), &st) != nil || st.TrustDomain != "east.example" {
		t.Errorf("status -o yaml: %v\n%s", err, out)
	}
}

func TestTop(t *testing.T) {
	server := fixture(t)
	out, err := plexctl(t, server, "top")
	if err != nil {
		t.Fatal(err)
	}
	// Busiest first: frontend and ratings (10 rps each), then reviews.
	if !strings.Contains(out, "signals from fixture") || !fields(out, "shop/frontend", "10.0") || !fields(out, "shop/ratings", "west", "50.0%", "error") ||
		strings.Index(out, "shop/ratings") > strings.Index(out, "shop/reviews ") {
		t.Errorf("top:\n%s", out)
	}
	out, err = plexctl(t, server, "top", "--edges")
	if err != nil || !fields(out, "east/shop/frontend", "west/shop/ratings", "west", "50.0%") {
		t.Errorf("top --edges: %v\n%s", err, out)
	}
	if _, err := plexctl(t, server, "top", "--window", "soon"); err == nil || !strings.Contains(err.Error(), `--window "soon"`) {
		t.Errorf("a bad window: %v", err)
	}
}

func TestCheck(t *testing.T) {
	server := fixture(t)
	out, err := plexctl(t, server, "check")
	if !errors.Is(err, errChecksFailed) {
		t.Errorf("check with errors exited with %v", err)
	}
	if !fields(out, "warning", "service shop/orphan", "no endpoints", "check that its selector") || !fields(out, "error", "proxy reviews-v1-1.shop") || !fields(out, "ok", "routes") {
		t.Errorf("check:\n%s", out)
	}
}

func TestProxyConfig(t *testing.T) {
	server := fixture(t)
	out, err := plexctl(t, server, "proxy-config", "frontend-1.shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"explicit|10.0.0.10:19999", "10.0.0.10:19999", "outbound.9080.reviews.shop.svc.clusterset.local", "10.0.0.21:9080", "HEALTHY",
		"default", "spiffe://east.example/ns/shop/sa/frontend", "spiffe://west.example"} {
		if !strings.Contains(out, want) {
			t.Errorf("proxy-config does not show %q:\n%s", want, out)
		}
	}
	if _, err := plexctl(t, server, "proxy-config", "ghost"); err == nil || !strings.Contains(err.Error(), `no proxy "ghost" is connected`) {
		t.Errorf("an unknown proxy: %v", err)
	}
}

func TestInspectErrors(t *testing.T) {
	if _, err := plexctl(t, fixture(t), "status", "-o", "xml"); err == nil || !strings.Contains(err.Error(), `--output "xml": use table, json or yaml`) {
		t.Errorf("a bad format: %v", err)
	}
	if _, err := plexctl(t, "http://127.0.0.1:1", "status"); err == nil || !strings.Contains(err.Error(), "is it running?") {
		t.Errorf("no control plane: %v", err)
	}
	if _, err := plexctl(t, "localhost:15080", "status"); err == nil || !strings.Contains(err.Error(), "want a URL") {
		t.Errorf("a server without scheme: %v", err)
	}
}

// fields reports whether a line of out holds every one of words, in order.
func fields(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}
