// Package bootstrap reads a proxy's bootstrap file: who the proxy is, where
// its control plane is, and static resources (the same xDS types, as YAML)
// that let it run with no control plane at all.
package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3" // resolves router typed_config
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Bootstrap is a parsed bootstrap file.
type Bootstrap struct {
	Node *corev3.Node
	// XDSAddress is the control plane ("host:port"); empty means static only.
	XDSAddress string
	// Static is the compiled static configuration.
	Static *config.Snapshot
}

type file struct {
	Node            json.RawMessage           `json:"node"`
	XDS             *struct{ Address string } `json:"xds"`
	StaticResources struct {
		Clusters  []json.RawMessage `json:"clusters"`
		Endpoints []json.RawMessage `json:"endpoints"`
		Listeners []json.RawMessage `json:"listeners"`
		Routes    []json.RawMessage `json:"routes"`
		Secrets   []json.RawMessage `json:"secrets"`
	} `json:"static_resources"`
}

// Load reads and compiles a bootstrap file.
func Load(path string) (*Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bootstrap: %w", err)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w", path, err)
	}
	return b, nil
}

// Parse compiles bootstrap YAML (or JSON).
func Parse(data []byte) (*Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var f file
	if err := json.Unmarshal(js, &f); err != nil {
		return nil, fmt.Errorf("unexpected structure: %w (want node, xds.address and static_resources)", err)
	}
	b := &Bootstrap{Node: &corev3.Node{}, Static: config.Empty()}
	if len(f.Node) > 0 {
		if err := protojson.Unmarshal(f.Node, b.Node); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if f.XDS != nil {
		b.XDSAddress = f.XDS.Address
	}
	sr := f.StaticResources
	kinds := []struct {
		typeURL string
		items   []json.RawMessage
		new     func() proto.Message
	}{
		{resourcev3.ClusterType, sr.Clusters, func() proto.Message { return &clusterv3.Cluster{} }},
		{resourcev3.EndpointType, sr.Endpoints, func() proto.Message { return &endpointv3.ClusterLoadAssignment{} }},
		{resourcev3.ListenerType, sr.Listeners, func() proto.Message { return &listenerv3.Listener{} }},
		{resourcev3.RouteType, sr.Routes, func() proto.Message { return &routev3.RouteConfiguration{} }},
		{resourcev3.SecretType, sr.Secrets, func() proto.Message { return &tlsv3.Secret{} }},
	}
	var errs []error
	for _, k := range kinds {
		var anys []*anypb.Any
		for i, item := range k.items {
			m := k.new()
			if err := protojson.Unmarshal(item, m); err != nil {
				errs = append(errs, fmt.Errorf("static_resources %s[%d]: %w", shortName(k.typeURL), i, err))
				continue
			}
			a, err := anypb.New(m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			anys = append(anys, a)
		}
		next, err := b.Static.With(k.typeURL, "static", anys)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.Static = next
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

func shortName(typeURL string) string {
	switch typeURL {
	case resourcev3.ClusterType:
		return "clusters"
	case resourcev3.EndpointType:
		return "endpoints"
	case resourcev3.ListenerType:
		return "listeners"
	case resourcev3.RouteType:
		return "routes"
	}
	return "secrets"
}
