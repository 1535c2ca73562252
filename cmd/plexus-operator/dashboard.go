package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/dashboard/ui"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// meshDashboard serves the mesh dashboard and the read API plexctl uses,
// from the model the control plane publishes, its connected proxies, its
// federation, and the proxies' metrics (through Prometheus when
// --prometheus-url is set, else scraped by the control plane itself).
type meshDashboard struct {
	ads *ads.Server
	fed *operatorFederation

	mu   sync.Mutex
	mesh *model.Mesh
}

// Update keeps the model the proxies were last given.
func (d *meshDashboard) Update(m *model.Mesh) {
	d.mu.Lock()
	d.mesh = m
	d.mu.Unlock()
}

func (d *meshDashboard) snapshot() dashboard.Snapshot {
	d.mu.Lock()
	s := dashboard.Snapshot{Mesh: d.mesh}
	d.mu.Unlock()
	s.Proxies = d.ads.ProxyMetadata()
	if mgr := d.fed.started(); mgr != nil {
		states := mgr.States()
		for _, pc := range mgr.Peers() {
			st := states[pc.Name]
			p := dashboard.Peer{Name: pc.Name, Cluster: pc.Peer.Cluster, TrustDomain: pc.Peer.TrustDomain.Name(), Connected: st.Connected,
				LastSync: st.LastSync, Imports: len(st.Imports)}
			for _, g := range pc.Peer.Gateways {
				p.Gateways = append(p.Gateways, g.String())
			}
			if st.Err != nil {
				p.Error = st.Err.Error()
			} else if st.Bundle.Err != nil {
				p.Error = "trust bundle: " + st.Bundle.Err.Error()
			}
			s.Peers = append(s.Peers, p)
		}
	}
	return s
}

func (d *meshDashboard) nacks() []dashboard.NACK {
	var out []dashboard.NACK
	for _, n := range d.ads.NACKs() {
		out = append(out, dashboard.NACK{Proxy: n.Node, Type: n.TypeURL, Version: n.Version, Message: n.Message, At: n.At})
	}
	return out
}

// metricsTargets are the connected proxies' /metrics URLs.
func (d *meshDashboard) metricsTargets() []string {
	var out []string
	for _, meta := range d.ads.ProxyMetadata() {
		if u := meta.MetricsURL(); u != "" {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// serve listens on the dashboard address (a busy address is an error now,
// not later) and serves until ctx ends.
func (d *meshDashboard) serve(ctx context.Context, cfg config, log *slog.Logger) error {
	addr, prometheusURL := cfg.DashboardAddr, cfg.PrometheusURL
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard address %s: %w (choose another with --dashboard-address, or turn the dashboard off with --dashboard-address=0)", addr, err)
	}
	var metrics dashboard.Metrics
	if prometheusURL != "" {
		metrics = dashboard.NewPrometheus(prometheusURL, &http.Client{Timeout: 10 * time.Second})
	} else {
		scraper := dashboard.NewScraper(d.metricsTargets, 5*time.Second)
		go scraper.Run(ctx)
		metrics = scraper
	}
	srv := dashboard.New(dashboard.Config{
		Snapshot: d.snapshot, Metrics: metrics, NACKs: d.nacks, ProxyConfig: d.ads.ProxyConfig, Assets: ui.Assets(), AllowedHosts: cfg.DashboardHosts,
		Log: log.With("component", "dashboard"),
	})
	log.Info("serving the mesh dashboard", "url", "http://"+ln.Addr().String()+"/", "signals", metrics.Name())
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("mesh dashboard", "error", err)
		}
	}()
	return nil
}
