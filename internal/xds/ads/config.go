package ads

import (
	"encoding/json"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// resourceKeys name each resource type in ProxyConfig's JSON, in
// typeOrder.
var resourceKeys = [len(typeOrder)]string{"clusters", "endpoints", "listeners", "routes"}

func newResource(i int) proto.Message {
	switch i {
	case 0:
		return &clusterv3.Cluster{}
	case 1:
		return &endpointv3.ClusterLoadAssignment{}
	case 2:
		return &listenerv3.Listener{}
	default:
		return &routev3.RouteConfiguration{}
	}
}

// ProxyConfig returns what the server last sent a connected proxy, as
// JSON: {"node", "versions": {type: version}, "clusters": [...],
// "endpoints", "listeners", "routes"}, each list sorted by name. False
// when no proxy of that ID is connected.
func (s *Server) ProxyConfig(id string) (json.RawMessage, bool) {
	snap, err := s.cache.GetSnapshot(id)
	if err != nil {
		return nil, false
	}
	out := map[string]any{"node": id}
	versions := map[string]string{}
	for i, t := range typeOrder {
		versions[resourceKeys[i]] = snap.GetVersion(t)
		res := snap.GetResources(t)
		names := make([]string, 0, len(res))
		for name := range res {
			names = append(names, name)
		}
		sort.Strings(names)
		list := make([]json.RawMessage, 0, len(names))
		for _, name := range names {
			// Resources are kept serialized (preserialized): decode them
			// into their full type for JSON.
			raw, err := proto.Marshal(res[name])
			if err != nil {
				continue
			}
			msg := newResource(i)
			if err := proto.Unmarshal(raw, msg); err != nil {
				continue
			}
			b, err := protojson.Marshal(msg)
			if err != nil {
				continue
			}
			list = append(list, b)
		}
		out[resourceKeys[i]] = list
	}
	out["versions"] = versions
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false
	}
	return b, true
}
