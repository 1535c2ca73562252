package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// TestNodeMetadataReachesTheControlPlane runs a sidecar the way the binary
// does and checks the control plane learns who the workload is.
func TestNodeMetadataReachesTheControlPlane(t *testing.T) {
	cp := startControlPlane(t)
	want := nodemeta.Metadata{
		Workload: "reviews-v1", Namespace: "shop", ServiceAccount: "reviews", Cluster: "east", IP: "127.0.0.7",
		Ports: []nodemeta.Port{{Port: 8080, Protocol: "http"}, {Port: 9090, Protocol: "grpc"}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			XDSAddress: cp.addr, NodeID: "reviews-v1-abc.shop", Workload: want,
			AdminAddress: fmt.Sprintf("127.0.0.1:%d", freePort(t)), DrainTimeout: 5 * time.Second,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sidecar stopped with %v", err)
		}
	}()
	testenv.Eventually(t, "node metadata at the control plane", func() error {
		for _, req := range cp.received() {
			n := req.GetNode()
			if n.GetId() != "reviews-v1-abc.shop" {
				continue
			}
			got, err := nodemeta.FromStruct(n.GetMetadata())
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(*got, want) || n.GetCluster() != "east" {
				return fmt.Errorf("got %+v (cluster %q), want %+v", got, n.GetCluster(), want)
			}
			return nil
		}
		return errors.New("no request from the sidecar yet")
	})
}
