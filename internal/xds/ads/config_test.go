package ads

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// TestProxyConfigShowsWhatWasSent: a connected proxy's configuration
// decodes to full resources as JSON (the server keeps them serialized);
// an unknown proxy has none.
func TestProxyConfigShowsWhatWasSent(t *testing.T) {
	srv, conn := serve(t, Config{Debounce: 10 * time.Millisecond})
	srv.Update(mesh("10.0.0.21"))
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "client-1"}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Node     string            `json:"node"`
		Versions map[string]string `json:"versions"`
		Clusters []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"clusters"`
		Listeners []map[string]any `json:"listeners"`
	}
	testenv.Eventually(t, "the proxy's configuration", func() error {
		raw, ok := srv.ProxyConfig("client-1")
		if !ok {
			return errors.New("not connected yet")
		}
		return json.Unmarshal(raw, &cfg)
	})
	if cfg.Node != "client-1" || cfg.Versions["clusters"] == "" || len(cfg.Clusters) == 0 || len(cfg.Listeners) == 0 {
		t.Fatalf("config %+v", cfg)
	}
	found := false
	for _, c := range cfg.Clusters {
		found = found || (strings.Contains(c.Name, "reviews") && c.Type == "EDS")
	}
	if !found {
		t.Errorf("no decoded reviews cluster in %+v", cfg.Clusters)
	}
	if _, ok := srv.ProxyConfig("nobody"); ok {
		t.Error("a proxy that never connected has a configuration")
	}
}
