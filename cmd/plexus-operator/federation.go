package main

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/federation"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/local"
	"github.com/plexus-mesh/plexus/internal/model"
)

// operatorFederation runs the mesh's federation with its peers: it starts
// once the Mesh says who this cluster is, serves the federation API and
// the bundle endpoint, publishes exports and hands imports and peers'
// bundles to the provider and the CA. In local mode the MeshPeers come
// from the configuration files (loaded); in Kubernetes the MeshPeer
// controller drives it.
type operatorFederation struct {
	cfg       config
	authority *identity.Authority
	log       *slog.Logger
	// refresh rebuilds the mesh when imports change.
	refresh func()
	reg     prometheus.Registerer

	mu  sync.Mutex
	mgr *federation.Manager
}

// loaded follows each configuration that loads: it starts federation
// once the Mesh says who this cluster is, and applies the MeshPeers.
func (f *operatorFederation) loaded(ctx context.Context, l *local.Loaded) {
	mgr := f.manager(ctx, l.Mesh.Settings)
	if mgr == nil {
		return
	}
	peers, invalid := federation.PeerConfigs(l.Mesh.Settings.ClusterName, l.Mesh.Settings.TrustDomain, l.Peers, func(mp *meshv1.MeshPeer) ([]byte, error) {
		return l.SecretValue(federation.BundleSecret(mp))
	})
	for name, err := range invalid {
		f.log.Error("MeshPeer not federated", "peer", name, "error", err)
	}
	mgr.SetPeers(ctx, peers)
	for name, st := range mgr.States() {
		f.log.Debug("peer", "peer", name, "connected", st.Connected, "imports", len(st.Imports), "error", st.Err)
	}
}

// manager starts federation the first time it is asked, for settings'
// cluster and trust domain; ctx bounds its servers.
func (f *operatorFederation) manager(ctx context.Context, s model.Settings) *federation.Manager {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mgr != nil {
		if f.mgr.Cluster != s.ClusterName || f.mgr.TrustDomain.Name() != s.TrustDomain {
			f.log.Error("the Mesh's clusterName or trustDomain changed; federation keeps the first ones until the operator restarts")
		}
		return f.mgr
	}
	td, err := spiffeid.TrustDomainFromString(s.TrustDomain)
	if err != nil {
		f.log.Error("federation not started", "error", err)
		return nil
	}
	m := &federation.Manager{Cluster: s.ClusterName, TrustDomain: td, Namespace: f.cfg.Namespace, CA: f.authority.CA, OnChange: f.refresh, Log: f.log, Registerer: f.reg}
	m.Init()
	go m.RunIdentity(ctx)
	if f.cfg.FederationAddr != "" {
		ln, err := listenGRPC(ctx, f.cfg.FederationAddr)
		if err != nil {
			f.log.Error("federation API not served (choose another --federation-address)", "address", f.cfg.FederationAddr, "error", err)
		} else {
			g := m.Server().GRPC(m.Trust())
			go func() { <-ctx.Done(); g.Stop() }()
			go func() { _ = g.Serve(ln) }()
			f.log.Info("serving the federation API", "address", ln.Addr().String())
		}
	}
	if f.cfg.BundleAddr != "" {
		if err := serveBundle(ctx, m.Trust(), td, f.cfg.BundleAddr, f.log); err != nil {
			f.log.Error("bundle endpoint not served (choose another --bundle-address)", "address", f.cfg.BundleAddr, "error", err)
		}
	}
	f.mgr = m
	return m
}

func serveBundle(ctx context.Context, trust *federation.Trust, td spiffeid.TrustDomain, addr string, log *slog.Logger) error {
	srv, err := federation.BundleServer(trust, td)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("bundle endpoint", "error", err)
		}
	}()
	log.Info("serving the trust bundle endpoint", "address", ln.Addr().String(), "path", federation.BundlePath)
	return nil
}

// started is the federation Manager, nil until federation starts.
func (f *operatorFederation) started() *federation.Manager {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mgr
}

// Update publishes the mesh's exports to peers.
func (f *operatorFederation) Update(m *model.Mesh) {
	if mgr := f.started(); mgr != nil {
		mgr.Publish(m, f.cfg.AdvertiseGateways)
	}
}

// imports, federated and clusters are the Manager's, or nothing before it
// starts.
func (f *operatorFederation) imports() []*model.Import {
	if mgr := f.started(); mgr != nil {
		return mgr.Imports()
	}
	return nil
}

func (f *operatorFederation) federated() map[string][]*x509.Certificate {
	if mgr := f.started(); mgr != nil {
		return mgr.Federated()
	}
	return nil
}

func (f *operatorFederation) clusters() map[string]string {
	if mgr := f.started(); mgr != nil {
		return mgr.Clusters()
	}
	return nil
}
