package translate

import (
	"path/filepath"
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// TestSidecarAcceptsEveryTranslation feeds each golden case's resources to
// the sidecar's own xDS compiler: what the control plane sends, the proxy
// must take without a NACK.
func TestSidecarAcceptsEveryTranslation(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			r := translateResources(t, in)
			snap := config.Empty()
			for _, kind := range []struct {
				typeURL string
				msgs    []proto.Message
			}{
				{resourcev3.ClusterType, messages(r.Clusters)},
				{resourcev3.EndpointType, messages(r.Endpoints)},
				{resourcev3.ListenerType, messages(r.Listeners)},
				{resourcev3.RouteType, messages(r.Routes)},
			} {
				var anys []*anypb.Any
				for _, m := range kind.msgs {
					a, err := anypb.New(m)
					if err != nil {
						t.Fatal(err)
					}
					anys = append(anys, a)
				}
				next, err := snap.With(kind.typeURL, "1", anys)
				if err != nil {
					t.Fatalf("the sidecar refuses the translation: %v", err)
				}
				snap = next
			}
		})
	}
}
