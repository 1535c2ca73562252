package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/plexus-mesh/plexus/controllers"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// addXDS adds the xDS server and the Kubernetes provider that feeds it.
// Every replica serves xDS (proxies may connect to any), so it runs
// without leader election.
func addXDS(mgr ctrl.Manager, server *ads.Server, publisher controllers.Publisher, addr string, fed *operatorFederation, refresh <-chan event.GenericEvent, leader func() bool) error {
	gateway := controllers.GatewayAPIInstalled(mgr.GetRESTMapper())
	if !gateway {
		ctrl.Log.Info("the Gateway API CRDs are not installed: HTTPRoutes and GRPCRoutes are ignored until they are")
	}
	mcs := controllers.MCSInstalled(mgr.GetRESTMapper())
	if !mcs {
		ctrl.Log.Info("the MCS API CRDs (ServiceExport, ServiceImport) are not installed: nothing is exported, and imports get no ServiceImport")
	}
	r := &controllers.MeshConfigReconciler{Client: mgr.GetClient(), Publisher: publisher, GatewayAPI: gateway, MCS: mcs, Imports: fed.imports, Trigger: refresh, MayWrite: leader,
		FederationAddress: fed.cfg.federationTarget()}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the mesh config controller: %w", err)
	}
	return mgr.Add(xdsRunnable{server: server, addr: addr})
}

type xdsRunnable struct {
	server *ads.Server
	addr   string
}

var _ manager.LeaderElectionRunnable = xdsRunnable{}

func (xdsRunnable) NeedLeaderElection() bool { return false }

func (x xdsRunnable) Start(ctx context.Context) error {
	ln, err := listenGRPC(ctx, x.addr)
	if err != nil {
		return fmt.Errorf("xDS address %s: %w (choose another with --xds-address)", x.addr, err)
	}
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	x.server.Register(g)
	go x.server.Run(ctx)
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	if err := g.Serve(ln); err != nil {
		return fmt.Errorf("serving xDS: %w", err)
	}
	return nil
}
