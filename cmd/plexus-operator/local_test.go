package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	proxyconfig "github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/xdsclient"
)

// compiled is a proxy stand-in: it compiles what it receives with the
// sidecar's compiler, without opening sockets.
type compiled struct {
	mu   sync.Mutex
	snap *proxyconfig.Snapshot
}

func (c *compiled) Snapshot() *proxyconfig.Snapshot { c.mu.Lock(); defer c.mu.Unlock(); return c.snap }
func (c *compiled) Apply(s *proxyconfig.Snapshot) error {
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
	return nil
}

type quiet struct{}

func (quiet) ConfigUpdate(string, bool) {}
func (quiet) XDSConnected(bool)         {}

// TestLocalMode runs the operator with --local: a proxy that connects with
// labels a Service selects becomes that Service's endpoint.
func TestLocalMode(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	empty := t.TempDir()
	cfg := defaultConfig()
	cfg.MetricsAddr, cfg.DashboardAddr = "0", "0"
	cfg.XDSAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.CAAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if err := runLocal(context.Background(), empty, cfg, log); err == nil || !strings.Contains(err.Error(), "no Mesh in") {
		t.Fatalf("an empty directory: %v, want it to say a Mesh is missing", err)
	}

	dir := t.TempDir()
	files := map[string]string{
		"mesh.yaml": "apiVersion: mesh.plexus.dev/v1alpha1\nkind: Mesh\nmetadata: {name: local}\nspec: {clusterName: east, trustDomain: east.example}\n",
		"reviews.yaml": "apiVersion: v1\nkind: Service\nmetadata: {namespace: shop, name: reviews}\n" +
			"spec: {selector: {app: reviews}, ports: [{name: http, port: 9080, targetPort: 8080}]}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.XDSAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLocal(ctx, dir, cfg, log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("local mode stopped with %v", err)
		}
	}()

	// The CA issues certificates for join tokens minted with the key it
	// keeps beside its root, over TLS verified with that root.
	caDir := filepath.Join(dir, ".ca")
	var err error
	var roots []byte
	testenv.Eventually(t, "the local CA's root", func() error {
		roots, err = os.ReadFile(filepath.Join(caDir, identity.FileRoots))
		return err
	})
	key, err := identity.JoinKey(caDir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := identity.MintJoinToken(key, spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caConn, err := grpc.NewClient(cfg.CAAddr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(nil, roots))))
	if err != nil {
		t.Fatal(err)
	}
	defer caConn.Close()
	svid, err := identity.NewClient(identity.ClientConfig{Conn: caConn, Log: log, Credential: func() (string, error) { return token, nil }}).Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != "spiffe://east.example/ns/shop/sa/reviews" || time.Until(svid.NotAfter()) < 23*time.Hour {
		t.Fatalf("issued %s until %s, want the token's identity for the default 24h", svid.ID, svid.NotAfter())
	}
	// The proxy talks to the control plane over mutual TLS, with the
	// certificate it got.
	conn, err := grpc.NewClient(cfg.XDSAddr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(svid, roots))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	meta := nodemeta.Metadata{Workload: "reviews-v1", Namespace: "shop", ServiceAccount: "reviews", IP: "127.0.0.11",
		Ports: []nodemeta.Port{{Port: 8080, Protocol: "http"}}, Labels: map[string]string{"app": "reviews"}}
	target := &compiled{snap: proxyconfig.Empty()}
	clientCtx, stopClient := context.WithCancel(context.Background())
	defer stopClient()
	go func() {
		_ = xdsclient.New(xdsclient.Config{Conn: conn, Node: &corev3.Node{Id: "reviews-1.shop", Metadata: meta.Struct()},
			Target: target, Observer: quiet{}, Log: log}).Run(clientCtx)
	}()
	testenv.Eventually(t, "the connected proxy is the service's endpoint", func() error {
		eps := target.Snapshot().Endpoints["outbound|9080|shop|reviews"]
		if eps == nil || len(eps.Localities) == 0 || len(eps.Localities[0].Endpoints) != 1 || eps.Localities[0].Endpoints[0].Address != "127.0.0.11:8080" {
			return errors.New("no endpoint for the proxy yet")
		}
		if target.Snapshot().Clusters["inbound|8080"] == nil {
			return errors.New("no inbound cluster for the proxy's own port")
		}
		return nil
	})
}

// clientTLS verifies the control plane with the PEM roots and, with an
// SVID, presents it.
func clientTLS(svid *identity.SVID, roots []byte) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if svid != nil {
		cert := tls.Certificate{PrivateKey: svid.Key}
		for _, x := range svid.Chain {
			cert.Certificate = append(cert.Certificate, x.Raw)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}
