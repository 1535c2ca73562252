package config

import (
	"errors"
	"fmt"
	"maps"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Snapshot is everything a proxy is configured with at one moment. It is
// immutable: an update makes a new Snapshot.
type Snapshot struct {
	// Versions holds the xDS version of each resource type.
	Versions map[string]string
	// Raw holds the resources as received, for /config_dump.
	Raw       map[string][]*anypb.Any
	Listeners map[string]*Listener
	Routes    map[string]*RouteTable
	Clusters  map[string]*Cluster
	Endpoints map[string]*Endpoints
	Secrets   map[string]*Secret
}

// Empty returns a snapshot with no resources.
func Empty() *Snapshot {
	return &Snapshot{
		Versions:  map[string]string{},
		Raw:       map[string][]*anypb.Any{},
		Listeners: map[string]*Listener{},
		Routes:    map[string]*RouteTable{},
		Clusters:  map[string]*Cluster{},
		Endpoints: map[string]*Endpoints{},
		Secrets:   map[string]*Secret{},
	}
}

// TypeURLs are the resource types a proxy subscribes to, in the order ADS
// should request them (clusters before endpoints, listeners before routes).
var TypeURLs = []string{
	resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType,
	resourcev3.RouteType, resourcev3.SecretType,
}

// With returns a copy of s in which the resources of typeURL are replaced by
// resources, compiled. It fails, leaving s untouched, if any resource does
// not compile; all errors are reported together.
func (s *Snapshot) With(typeURL, version string, resources []*anypb.Any) (*Snapshot, error) {
	next := *s
	next.Versions = maps.Clone(s.Versions)
	next.Versions[typeURL] = version
	next.Raw = maps.Clone(s.Raw)
	next.Raw[typeURL] = resources
	var errs []error
	switch typeURL {
	case resourcev3.ListenerType:
		next.Listeners = compileAll(resources, &errs, func() *listenerv3.Listener { return &listenerv3.Listener{} },
			CompileListener, func(l *Listener) string { return l.Name })
	case resourcev3.RouteType:
		next.Routes = compileAll(resources, &errs, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} },
			CompileRouteTable, func(r *RouteTable) string { return r.Name })
	case resourcev3.ClusterType:
		next.Clusters = compileAll(resources, &errs, func() *clusterv3.Cluster { return &clusterv3.Cluster{} },
			CompileCluster, func(c *Cluster) string { return c.Name })
	case resourcev3.EndpointType:
		next.Endpoints = compileAll(resources, &errs, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} },
			CompileEndpoints, func(e *Endpoints) string { return e.ClusterName })
	case resourcev3.SecretType:
		next.Secrets = compileAll(resources, &errs, func() *tlsv3.Secret { return &tlsv3.Secret{} },
			CompileSecret, func(s *Secret) string { return s.Name })
	default:
		return nil, fmt.Errorf("resource type %q is not supported", typeURL)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &next, nil
}

func compileAll[M proto.Message, T any](resources []*anypb.Any, errs *[]error, newMsg func() M, compile func(M) (T, error), name func(T) string) map[string]T {
	out := make(map[string]T, len(resources))
	for _, r := range resources {
		m := newMsg()
		if err := r.UnmarshalTo(m); err != nil {
			*errs = append(*errs, fmt.Errorf("decoding %s: %w", r.GetTypeUrl(), err))
			continue
		}
		c, err := compile(m)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		n := name(c)
		if _, dup := out[n]; dup {
			*errs = append(*errs, fmt.Errorf("two resources are named %q", n))
			continue
		}
		out[n] = c
	}
	return out
}
