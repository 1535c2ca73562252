package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/identity/capb"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// TestRootRotationWithoutFailedRequests rotates the CA's root while a
// client sidecar calls a server sidecar over mTLS, opening new
// connections all the time. Both get their certificates from the real
// certificate service, as they do in a mesh; certificates live 4 s, so the
// whole rotation takes seconds. Not one request may fail.
func TestRootRotationWithoutFailedRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	td := spiffeid.RequireTrustDomainFromString("test.example")
	caDir := t.TempDir()
	const ttl = 4 * time.Second
	authority := identity.NewAuthority(identity.FileStore{Dir: caDir}, nil)
	if err := authority.Follow(ctx, td.Name(), ttl, ""); err != nil {
		t.Fatal(err)
	}
	original := authority.CA().Roots()[0]
	joinKey, err := identity.JoinKey(caDir)
	if err != nil {
		t.Fatal(err)
	}
	serving := &identity.ServingCertificates{CA: authority.CA, Hosts: []string{"127.0.0.1"}}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: serving.GetCertificate, MinVersion: tls.VersionTLS12})))
	capb.RegisterCertificatesServer(g, identity.NewServer(identity.ServerConfig{
		CA: authority.CA, TTL: authority.TTL, Authenticator: &identity.JoinTokens{Key: joinKey, TrustDomain: td}, Log: log,
	}))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	defer g.Stop()

	cp := startControlPlane(t)
	server, client := startProxy(t, cp, "server"), startProxy(t, cp, "client")
	var stops []func()
	defer func() { // the identity clients end with ctx
		cancel()
		for _, stop := range stops {
			stop()
		}
	}()
	for _, p := range []struct {
		proxy *testProxy
		id    string
	}{{server, serverID}, {client, clientID}} {
		token, err := identity.MintJoinToken(joinKey, spiffeid.RequireFromString(p.id), time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tokenFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		// The root file is the CA's own, which the rotation rewrites, as
		// a ConfigMap would be updated.
		id, err := startIdentity(ctx, IdentityOptions{CAAddress: ln.Addr().String(), CARootFile: filepath.Join(caDir, identity.FileRoots), CredentialFile: tokenFile}, p.proxy.Proxy, p.proxy.metrics, log)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, id.stop)
		// Stagger the proxies' renewals, as in a real mesh: a rotation
		// that switched roots at once would leave them a window in which
		// one holds a certificate the other cannot verify.
		testenv.Eventually(t, "certificate", func() error {
			if p.proxy.Secret("default") == nil {
				return fmt.Errorf("no certificate yet")
			}
			return nil
		})
		time.Sleep(ttl / 4)
	}
	testenv.Eventually(t, "both proxies hold certificates", func() error {
		for _, p := range []*testProxy{server, client} {
			if p.Secret("default") == nil {
				return fmt.Errorf("no certificate yet")
			}
		}
		return nil
	})

	app := startBackend(t, "app", nil)
	inboundPort, outboundPort := freePort(t), freePort(t)
	inbound := build.Listener("inbound|app", "127.0.0.2", inboundPort, corev3.TrafficDirection_INBOUND, build.HTTPManager("inbound", "inbound|app"))
	inbound.FilterChains[0].TransportSocket = downstreamTLS()
	vs := cp.set(t, "server", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {staticCluster(false, app.port())},
		resourcev3.ListenerType: {inbound},
		resourcev3.RouteType:    {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
	})
	server.waitVersion(t, resourcev3.RouteType, vs)
	cl := build.Cluster(build.ClusterOptions{Name: "outbound|app", HTTP2: true, Service: "app", Namespace: "test", MeshCluster: "local"})
	cl.TransportSocket = upstreamTLS(serverID)
	vc := cp.set(t, "client", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {cl},
		resourcev3.EndpointType: {build.LoadAssignment("outbound|app", build.Endpoints(0, "z1", build.Address("127.0.0.2", inboundPort)))},
		resourcev3.ListenerType: {build.Listener("outbound|app", "127.0.0.1", outboundPort, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "outbound|app"))},
		resourcev3.RouteType:    {build.RouteConfig("outbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "outbound|app", 0)))},
	})
	client.waitVersion(t, resourcev3.EndpointType, vc)
	url := fmt.Sprintf("http://127.0.0.1:%d/", outboundPort)
	testenv.Eventually(t, "traffic before the rotation", func() error {
		if code, _, reason := get(t, plainClient(), url); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, reason)
		}
		return nil
	})

	go authority.Run(ctx, 100*time.Millisecond, func(err error) { t.Error(err) })
	if err := authority.Follow(ctx, td.Name(), ttl, "rotation-1"); err != nil {
		t.Fatal(err)
	}
	requests, deadline := 0, time.Now().Add(60*time.Second)
	rotated := time.Time{}
	for {
		// New connections each time: every request needs a handshake the
		// current certificates and bundles must pass.
		client.Clusters()["outbound|app"].Close()
		if code, _, reason := get(t, plainClient(), url); code != http.StatusOK {
			t.Fatalf("request %d during the rotation failed: %d %s", requests, code, reason)
		}
		requests++
		roots := authority.CA().Roots()
		if rotated.IsZero() && len(roots) == 1 && !roots[0].Equal(original) {
			rotated = time.Now()
		}
		// Once the old root is gone, keep going past the next renewal.
		if !rotated.IsZero() && time.Since(rotated) > ttl {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotation did not finish in a minute: roots %d", len(roots))
		}
		time.Sleep(20 * time.Millisecond)
	}
	newRoot := authority.CA().Roots()[0]
	for _, p := range []*testProxy{server, client} {
		chain := p.Secret("default").SVID.Certificates
		if err := chain[0].CheckSignatureFrom(newRoot); err != nil {
			t.Errorf("a proxy's certificate is not from the new root: %v", err)
		}
	}
	t.Logf("%d requests across the rotation, none failed", requests)
}
