package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar/admin"
	"github.com/plexus-mesh/plexus/sidecar/bootstrap"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
	"github.com/plexus-mesh/plexus/sidecar/xdsclient"
)

// Options configure a sidecar run.
type Options struct {
	// BootstrapFile holds node, control plane address and static
	// resources; optional.
	BootstrapFile string
	// XDSAddress of the control plane; overrides the bootstrap file.
	XDSAddress string
	// NodeID identifies the proxy to the control plane.
	NodeID string
	// Workload describes the application beside the proxy.
	Workload nodemeta.Metadata
	// AdminAddress serves /ready, /metrics, /config_dump and /stats.
	AdminAddress string
	// StatusAddress serves only /ready and /metrics, for kubelet probes
	// and Prometheus on the pod's address; "" serves nothing.
	StatusAddress string
	// Identity is where the proxy gets its certificate; unset, it uses
	// secrets from xDS or the bootstrap file.
	Identity IdentityOptions
	// DrainTimeout bounds in-flight requests after SIGTERM.
	DrainTimeout time.Duration
	Log          *slog.Logger
}

// closed is a closed channel: nothing to wait for.
var closed = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Run runs a sidecar until ctx ends, then drains it.
func Run(ctx context.Context, o Options) error {
	b := &bootstrap.Bootstrap{Node: &corev3.Node{}}
	if o.BootstrapFile != "" {
		var err error
		if b, err = bootstrap.Load(o.BootstrapFile); err != nil {
			return err
		}
	}
	if o.XDSAddress != "" {
		b.XDSAddress = o.XDSAddress
	}
	if o.NodeID != "" {
		b.Node.Id = o.NodeID
	}
	if o.Workload.Workload != "" {
		if err := o.Workload.Validate(); err != nil {
			return fmt.Errorf("workload: %w", err)
		}
		b.Node.Metadata = o.Workload.Struct()
		b.Node.Cluster = o.Workload.Cluster
	}
	if b.XDSAddress == "" && (b.Static == nil || len(b.Static.Listeners) == 0) {
		return errors.New("nothing to do: give --xds-address (a control plane) or a --bootstrap file with static listeners")
	}
	if b.XDSAddress != "" && b.Node.GetId() == "" {
		return errors.New("--node-id is required with a control plane: it names this proxy")
	}

	m := metrics.New(metrics.Workload{Name: o.Workload.Workload, Namespace: o.Workload.Namespace, Cluster: o.Workload.Cluster})
	p := New(o.Log, m)
	if b.Static != nil && len(b.Static.Raw) > 0 {
		if err := p.Apply(b.Static); err != nil {
			return fmt.Errorf("applying the bootstrap's static resources: %w", err)
		}
	}

	stopIdentity := func() {}
	// xDS is plaintext unless the proxy has a certificate from the mesh
	// CA; it then waits for the first certificate, which it presents.
	xdsCreds, identityReady := insecure.NewCredentials(), closed
	identityCtx, cancelIdentity := context.WithCancel(context.Background())
	defer cancelIdentity()
	switch {
	case o.Identity.WorkloadAPI != "" && o.Identity.CAAddress != "":
		return errors.New("--spiffe-socket and --ca-address both name where certificates come from: give one")
	case o.Identity.WorkloadAPI != "":
		var err error
		if stopIdentity, err = startWorkloadAPI(identityCtx, o.Identity.WorkloadAPI, p, m, o.Log); err != nil {
			return fmt.Errorf("--spiffe-socket %s: %w", o.Identity.WorkloadAPI, err)
		}
	case o.Identity.CAAddress != "":
		id, err := startIdentity(identityCtx, o.Identity, p, m, o.Log)
		if err != nil {
			return err
		}
		stopIdentity, identityReady = id.stop, id.first
		xdsCreds = xdsCredentials(b.XDSAddress, id.roots, p)
	}

	adminLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.AdminAddress)
	if err != nil {
		return fmt.Errorf("admin address %s: %w (choose another with --admin-address)", o.AdminAddress, err)
	}
	adminSrv := &http.Server{Handler: admin.Handler(p, m.Registry), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = adminSrv.Serve(adminLn) }()
	var statusSrv *http.Server
	if o.StatusAddress != "" {
		statusLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.StatusAddress)
		if err != nil {
			_ = adminSrv.Close()
			return fmt.Errorf("status address %s: %w (choose another with --status-address)", o.StatusAddress, err)
		}
		statusSrv = &http.Server{Handler: admin.StatusHandler(p, m.Registry), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = statusSrv.Serve(statusLn) }()
	}
	o.Log.Info("proxy started", "admin", adminLn.Addr().String(), "xds", b.XDSAddress, "node", b.Node.GetId())

	xdsDone := make(chan struct{})
	xdsCtx, stopXDS := context.WithCancel(context.Background())
	if b.XDSAddress != "" {
		conn, err := grpc.NewClient(b.XDSAddress,
			grpc.WithTransportCredentials(xdsCreds),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}))
		if err != nil {
			stopXDS()
			return fmt.Errorf("control plane address %s: %w", b.XDSAddress, err)
		}
		defer conn.Close()
		client := xdsclient.New(xdsclient.Config{Conn: conn, Node: b.Node, Target: p, Observer: m, Log: o.Log})
		go func() {
			defer close(xdsDone)
			select {
			case <-identityReady:
			case <-xdsCtx.Done():
				return
			}
			_ = client.Run(xdsCtx)
		}()
	} else {
		close(xdsDone)
	}

	<-ctx.Done()
	o.Log.Info("draining", "timeout", o.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	err = p.Shutdown(drainCtx)
	stopXDS()
	<-xdsDone
	cancelIdentity()
	stopIdentity()
	_ = adminSrv.Shutdown(drainCtx)
	if statusSrv != nil {
		_ = statusSrv.Shutdown(drainCtx)
	}
	return err
}
