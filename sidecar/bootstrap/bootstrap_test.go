package bootstrap

import (
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

const valid = `
node: {id: web-1.shop, cluster: east}
xds: {address: 127.0.0.1:15010}
static_resources:
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]
`

func TestParse(t *testing.T) {
	b, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if b.Node.GetId() != "web-1.shop" || b.Node.GetCluster() != "east" || b.XDSAddress != "127.0.0.1:15010" {
		t.Fatalf("node %v, xds %q", b.Node, b.XDSAddress)
	}
	c := b.Static.Clusters["app"]
	if c == nil || c.Static == nil || c.Static.Localities[0].Endpoints[0].Address != "127.0.0.1:8080" {
		t.Fatalf("static cluster not compiled: %+v", c)
	}
	if b.Static.Versions[resourcev3.ClusterType] != "static" {
		t.Fatalf("versions %v", b.Static.Versions)
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]string{
		"not yaml":        "node: [",
		"unknown field":   "static_resources: {clusters: [{name: a, colour: blue}]}",
		"invalid cluster": "static_resources: {clusters: [{name: a, type: STATIC}]}",
		"wrong shape":     "static_resources: 3",
	}
	wants := map[string]string{
		"not yaml":        "not valid YAML",
		"unknown field":   "static_resources clusters[0]",
		"invalid cluster": `cluster "a": a STATIC cluster needs load_assignment`,
		"wrong shape":     "unexpected structure",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			if err == nil || !strings.Contains(err.Error(), wants[name]) {
				t.Fatalf("Parse = %v, want %q", err, wants[name])
			}
		})
	}
}

// FuzzParse checks that no bootstrap file crashes the proxy.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("static_resources: {listeners: [{name: l, address: {socket_address: {address: 127.0.0.1, port_value: 1}}}]}"))
	f.Fuzz(func(_ *testing.T, data []byte) {
		_, _ = Parse(data)
	})
}
