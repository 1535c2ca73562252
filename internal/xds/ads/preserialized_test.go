package ads

import (
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
)

// What the cache sends for a stand-in parses back to the original
// resource, and the cache finds it under the original's name.
func TestPreserializedRoundTrip(t *testing.T) {
	m := &model.Mesh{Settings: model.Settings{ClusterName: "east", TrustDomain: "east.example", MTLS: model.MTLSStrict,
		Traffic: model.Traffic{LoadBalancer: model.RoundRobin, ConnectTimeout: time.Second}}}
	m.Services = []*model.Service{{Key: model.NamespacedName{Namespace: "shop", Name: "reviews"},
		Ports: []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}}}}
	r := translate.Outbound(m, translate.Scope{Namespace: "shop"})
	var all []types.Resource
	for _, list := range lists(r) {
		all = append(all, list...)
	}
	if len(all) < 4 {
		t.Fatalf("only %d resources to check", len(all))
	}
	for _, orig := range all {
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(orig)
		if err != nil {
			t.Fatal(err)
		}
		stub := preserialized(orig, raw)
		if cachev3.GetResourceName(stub) != cachev3.GetResourceName(orig) {
			t.Fatalf("stand-in named %q, want %q", cachev3.GetResourceName(stub), cachev3.GetResourceName(orig))
		}
		wire, err := cachev3.MarshalResource(stub)
		if err != nil {
			t.Fatal(err)
		}
		back := orig.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(wire, back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, orig) {
			t.Fatalf("%s: the stand-in's serialization parses to something else", cachev3.GetResourceName(orig))
		}
	}
}
