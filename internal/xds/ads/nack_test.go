package ads

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// TestNACKsAreTrackedUntilAccepted: a refusal is recorded with the proxy and
// the reason, and cleared when the proxy accepts that type again.
func TestNACKsAreTrackedUntilAccepted(t *testing.T) {
	srv, conn := serve(t, Config{Debounce: 10 * time.Millisecond})
	srv.Update(mesh("10.0.0.21"))
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "picky-1"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: "cluster x: unsupported"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the NACK recorded", func() error {
		for _, n := range srv.NACKs() {
			if n.Node == "picky-1" && n.TypeURL == resourcev3.ClusterType && n.Message == "cluster x: unsupported" {
				return nil
			}
		}
		return fmt.Errorf("NACKs: %+v", srv.NACKs())
	})
	resp, err = stream.Recv() // the cache resends what was refused
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the NACK cleared by an ACK", func() error {
		if n := srv.NACKs(); len(n) != 0 {
			return errors.New("still recorded")
		}
		return nil
	})
}
