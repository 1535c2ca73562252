package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/local"
	"github.com/plexus-mesh/plexus/internal/version"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// runLocal runs the control plane without Kubernetes: the mesh comes from
// the YAML files in dir and the proxies that connect (local mode).
func runLocal(ctx context.Context, dir string, cfg config, log *slog.Logger) error {
	// Everything started here ends before runLocal returns.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var provider *local.Provider
	server := ads.New(ads.Config{Log: log, Registerer: reg, ProxiesChanged: func() { provider.ProxiesChanged() }, RequireIdentity: cfg.XDSMode == xdsStrict, Gateway: cfg.gatewayAccount()})
	caDir := cfg.CADir
	if caDir == "" {
		caDir = filepath.Join(dir, ".ca")
	}
	authority := identity.NewAuthority(identity.FileStore{Dir: caDir}, nil)
	wg.Go(func() {
		authority.Run(ctx, rotationCheckInterval, func(err error) { log.Error("certificate authority", "error", err) })
	})
	fed := &operatorFederation{cfg: cfg, authority: authority, log: log.With("component", "federation"), refresh: func() { provider.ProxiesChanged() }, reg: reg}
	dash := &meshDashboard{ads: server, fed: fed}
	provider = local.New(local.Config{
		Dir: dir, Proxies: server.ProxyMetadata, Imports: fed.imports, FederationAddress: cfg.federationTarget(), Loaded: func(l *local.Loaded) { fed.loaded(ctx, l) },
		Publisher: publishers{followMesh{authority: authority, log: log}, server, fed, dash}, Log: log,
	})
	ca := &caServer{authority: authority, authn: localJoinTokens{dir: caDir, authority: authority}, addr: cfg.CAAddr,
		hosts: cfg.localHosts(), log: log.With("component", "ca"), reg: reg, federated: fed.federated, clusters: fed.clusters}

	ln, err := listenGRPC(ctx, cfg.XDSAddr)
	if err != nil {
		return fmt.Errorf("xDS address %s: %w (choose another with --xds-address)", cfg.XDSAddr, err)
	}
	if cfg.DashboardAddr != "0" {
		if err := dash.serve(ctx, cfg, log); err != nil {
			_ = ln.Close()
			return err
		}
	}
	xdsCtx, stopXDS := context.WithCancel(ctx)
	xdsDone := make(chan struct{})
	defer func() { stopXDS(); <-xdsDone }()
	errs := make(chan error, 4)
	go func() {
		defer close(xdsDone)
		if err := (xdsServing{ads: server, mode: cfg.XDSMode, authority: authority, hosts: cfg.localHosts()}).serve(xdsCtx, ln); err != nil {
			errs <- err
		}
	}()
	caCtx, stopCA := context.WithCancel(ctx)
	defer stopCA()
	wg.Go(func() { errs <- ca.Start(caCtx) })
	wg.Go(func() { server.Run(ctx) })
	wg.Go(func() { errs <- provider.Run(ctx) })

	var metrics *http.Server
	if cfg.MetricsAddr != "0" {
		mln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics address %s: %w", cfg.MetricsAddr, err)
		}
		metrics = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = metrics.Serve(mln) }()
	}
	log.Info("plexus-operator running in local mode", "version", version.Get().String(), "config", dir, "xds", ln.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	stopXDS()
	<-xdsDone
	if metrics != nil {
		_ = metrics.Close()
	}
	if errors.Is(runErr, grpc.ErrServerStopped) {
		runErr = nil
	}
	return runErr
}

// localHosts are the names in the TLS certificate of the certificate
// service and xDS in local mode.
func (c *config) localHosts() []string {
	return slices.Concat([]string{"127.0.0.1", "localhost"}, listenHosts(c.XDSAddr, c.CAAddr), c.CAHosts)
}
