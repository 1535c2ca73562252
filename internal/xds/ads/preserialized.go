package ads

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// preserialized returns a stand-in for msg that serializes to raw (msg's
// own serialization) at the cost of a copy. The snapshot cache serializes
// every resource of every response anew; resources shared by a thousand
// proxies would be serialized a thousand times per change. The stand-in
// carries only the name, which the cache indexes by, and raw as unknown
// fields, which are written out verbatim. The name field then appears
// twice on the wire with the same value, which protobuf parsers accept
// (the last one wins).
func preserialized(msg types.Resource, raw []byte) types.Resource {
	var stub types.Resource
	switch m := msg.(type) {
	case *clusterv3.Cluster:
		stub = &clusterv3.Cluster{Name: m.GetName()}
	case *endpointv3.ClusterLoadAssignment:
		stub = &endpointv3.ClusterLoadAssignment{ClusterName: m.GetClusterName()}
	case *listenerv3.Listener:
		stub = &listenerv3.Listener{Name: m.GetName()}
	case *routev3.RouteConfiguration:
		stub = &routev3.RouteConfiguration{Name: m.GetName()}
	default:
		panic(fmt.Sprintf("ads: no stand-in for %T", msg)) // the server builds only these four
	}
	stub.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
	return stub
}
