package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// localPlane is a local-mode control plane with one Mesh.
type localPlane struct {
	cfg   config
	caDir string
	roots []byte
	log   *slog.Logger
}

func startLocalPlane(t *testing.T, mode string) *localPlane {
	t.Helper()
	dir := t.TempDir()
	mesh := "apiVersion: mesh.plexus.dev/v1alpha1\nkind: Mesh\nmetadata: {name: local}\nspec: {clusterName: east, trustDomain: east.example}\n"
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &localPlane{cfg: defaultConfig(), caDir: filepath.Join(dir, ".ca"), log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	p.cfg.DashboardAddr, p.cfg.XDSMode = "0", mode
	p.cfg.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p.cfg.XDSAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p.cfg.CAAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLocal(ctx, dir, p.cfg, p.log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("local mode stopped with %v", err)
		}
	})
	testenv.Eventually(t, "the local CA's root", func() error {
		var err error
		p.roots, err = os.ReadFile(filepath.Join(p.caDir, identity.FileRoots))
		return err
	})
	return p
}

// svid gets a certificate for a service account of namespace shop from
// the control plane's certificate service, with a join token.
func (p *localPlane) svid(t *testing.T, sa string) *identity.SVID {
	t.Helper()
	key, err := identity.JoinKey(p.caDir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := identity.MintJoinToken(key, spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/"+sa), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(p.cfg.CAAddr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(nil, p.roots))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svid, err := identity.NewClient(identity.ClientConfig{Conn: conn, Log: p.log, Credential: func() (string, error) { return token, nil }}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return svid
}

// ads opens an ADS stream with creds and asks for clusters as node; it
// returns the stream after the first response, or the error that ended
// it.
func (p *localPlane) ads(t *testing.T, creds credentials.TransportCredentials, node *corev3.Node) (discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	t.Helper()
	client, ctx := p.client(t, creds)
	stream, err := client.StreamAggregatedResources(ctx, grpc.WaitForReady(false))
	if err != nil {
		return nil, err
	}
	// A Send the server ended answers io.EOF; Recv then has the status.
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	_, err = stream.Recv()
	return stream, err
}

// streams reads how many xDS streams the control plane served or refused
// (result), over mTLS or not.
func (p *localPlane) streams(t *testing.T, mtls bool, result string) string {
	t.Helper()
	_, body, err := testenv.Get("http://" + p.cfg.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	series := fmt.Sprintf(`plexus_xds_streams_total{mtls="%v",result="%s"} `, mtls, result)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, series); ok {
			return strings.TrimSpace(v)
		}
	}
	return "0"
}

func node(id, sa string) *corev3.Node {
	meta := nodemeta.Metadata{Workload: sa, Namespace: "shop", ServiceAccount: sa, IP: "127.0.0.11", Ports: []nodemeta.Port{{Port: 8080, Protocol: "http"}}}
	return &corev3.Node{Id: id, Metadata: meta.Struct()}
}

func mtls(svid *identity.SVID, roots []byte) credentials.TransportCredentials {
	return credentials.NewTLS(clientTLS(svid, roots))
}

func wantCode(t *testing.T, what string, err error, code codes.Code, text string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), text) {
		t.Errorf("%s: %v, want %s saying %q", what, err, code, text)
	}
}

// TestXDSIsMutualTLS: in strict mode (the default) the control plane
// serves xDS only to proxies that present a workload certificate from
// the mesh CA, and only the configuration of that workload.
func TestXDSIsMutualTLS(t *testing.T) {
	p := startLocalPlane(t, xdsStrict)
	reviews, ratings := p.svid(t, "reviews"), p.svid(t, "ratings")

	if _, err := p.ads(t, mtls(reviews, p.roots), node("reviews-1.shop", "reviews")); err != nil {
		t.Fatalf("a proxy with its own certificate: %v", err)
	}

	// Plaintext gets an answer that says why (an old proxy logs it).
	_, err := p.ads(t, insecure.NewCredentials(), node("plain.shop", "reviews"))
	wantCode(t, "plaintext in strict mode", err, codes.Unauthenticated, "takes xDS over mutual TLS only")
	_, err = p.ads(t, mtls(nil, p.roots), node("anonymous.shop", "reviews"))
	wantCode(t, "TLS without a client certificate", err, codes.Unavailable, "") // refused in the TLS handshake

	// A certificate from another CA, for the same trust domain.
	root, rootKey, err := identity.NewRoot(spiffeid.RequireTrustDomainFromString("east.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.New(spiffeid.RequireTrustDomainFromString("east.example"), []*x509.Certificate{root}, rootKey, []*x509.Certificate{root})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.SelfSVID(spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ads(t, mtls(forged, p.roots), node("forged.shop", "reviews"))
	wantCode(t, "a certificate from another CA", err, codes.Unavailable, "") // the server hangs up: TLS alert or broken pipe

	// A proxy that claims another workload than its certificate's.
	_, err = p.ads(t, mtls(ratings, p.roots), node("liar.shop", "reviews"))
	wantCode(t, "ratings claiming to be reviews", err, codes.PermissionDenied, "its certificate is spiffe://east.example/ns/shop/sa/ratings")

	// A node ID names its namespace, so that no other namespace can take
	// a proxy's name; only the gateway's service account is a gateway.
	_, err = p.ads(t, mtls(reviews, p.roots), node("reviews-1.elsewhere", "reviews"))
	wantCode(t, "a node ID of another namespace", err, codes.InvalidArgument, "does not end in .shop")
	gw := node("gw.shop", "reviews")
	gw.Metadata.Fields["plexus.role"] = structpb.NewStringValue(nodemeta.RoleGateway)
	_, err = p.ads(t, mtls(reviews, p.roots), gw)
	wantCode(t, "reviews claiming the gateway role", err, codes.PermissionDenied, "claims the gateway role, which only service account plexus-system/plexus-east-west-gateway may")

	// Another identity cannot take over a connected proxy's node ID.
	_, err = p.ads(t, mtls(ratings, p.roots), node("reviews-1.shop", "ratings"))
	wantCode(t, "ratings on reviews' node ID", err, codes.PermissionDenied, "is connected as spiffe://east.example/ns/shop/sa/reviews")

	// Nor can a stream change its node after the first request.
	stream, err := p.ads(t, mtls(reviews, p.roots), node("reviews-2.shop", "reviews"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node("reviews-3.shop", "reviews"), TypeUrl: resourcev3.ListenerType}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	for err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, "a stream switching nodes", err, codes.InvalidArgument, "this stream belongs to node reviews-2.shop")

	// Delta (incremental) xDS is held to the same rules.
	delta := p.delta(t, mtls(ratings, p.roots))
	err = delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node("liar-2.shop", "reviews"), TypeUrl: resourcev3.ClusterType})
	if errors.Is(err, io.EOF) {
		err = nil // the status comes with Recv
	}
	for err == nil {
		_, err = delta.Recv()
	}
	wantCode(t, "ratings claiming to be reviews over delta xDS", err, codes.PermissionDenied, "its certificate is spiffe://east.example/ns/shop/sa/ratings")

	// Refusals are counted, plaintext ones too; anonymous and forged
	// clients never got past TLS.
	if served, refused := p.streams(t, true, "served"), p.streams(t, true, "refused"); served != "2" || refused != "5" {
		t.Errorf("plexus_xds_streams_total over mTLS: %s served, %s refused; want 2 and 5", served, refused)
	}
	if refused := p.streams(t, false, "refused"); refused != "1" {
		t.Errorf("plaintext streams refused: %s, want 1", refused)
	}
}

// delta opens an incremental xDS stream.
func (p *localPlane) delta(t *testing.T, creds credentials.TransportCredentials) discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient {
	t.Helper()
	client, ctx := p.client(t, creds)
	stream, err := client.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// client dials xDS with creds; the connection and the context of its
// streams end with the test.
func (p *localPlane) client(t *testing.T, creds credentials.TransportCredentials) (discoveryv3.AggregatedDiscoveryServiceClient, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(p.cfg.XDSAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return discoveryv3.NewAggregatedDiscoveryServiceClient(conn), ctx
}

// TestXDSPermissive: in permissive mode one port takes plaintext proxies
// and mTLS ones, and those that present a certificate are still held to
// it.
func TestXDSPermissive(t *testing.T) {
	p := startLocalPlane(t, xdsPermissive)
	reviews := p.svid(t, "reviews")
	if _, err := p.ads(t, insecure.NewCredentials(), node("plain.shop", "ratings")); err != nil {
		t.Errorf("plaintext in permissive mode: %v", err)
	}
	if _, err := p.ads(t, mtls(reviews, p.roots), node("reviews-1.shop", "reviews")); err != nil {
		t.Errorf("mTLS in permissive mode: %v", err)
	}
	_, err := p.ads(t, mtls(reviews, p.roots), node("liar.shop", "ratings"))
	wantCode(t, "reviews claiming to be ratings", err, codes.PermissionDenied, "its certificate is spiffe://east.example/ns/shop/sa/reviews")
	// Plaintext cannot take the node ID of a proxy that proved who it is.
	_, err = p.ads(t, insecure.NewCredentials(), node("reviews-1.shop", "reviews"))
	wantCode(t, "plaintext on an mTLS proxy's node ID", err, codes.PermissionDenied, "is connected as spiffe://east.example/ns/shop/sa/reviews")
	// Users see when strict mode would be safe: no plaintext streams.
	if n := p.streams(t, false, "served"); n != "1" {
		t.Errorf("plaintext streams served: %s, want 1", n)
	}
}

func TestXDSModeFlag(t *testing.T) {
	cfg := defaultConfig()
	if cfg.XDSMode != xdsStrict || cfg.validateXDSMode() != nil {
		t.Fatalf("default mode %q", cfg.XDSMode)
	}
	cfg.XDSMode = "off"
	if err := cfg.validateXDSMode(); err == nil || !strings.Contains(err.Error(), `use "strict"`) {
		t.Errorf("--xds-mtls-mode off: %v", err)
	}
}

// TestXDSConnectionEndsWithItsCertificate: a connection lives no longer
// than the client certificate it was opened with, so a proxy is
// authorized again with its renewed one.
func TestXDSConnectionEndsWithItsCertificate(t *testing.T) {
	p := startLocalPlane(t, xdsStrict)
	ca, err := identity.LoadOrCreateFiles(p.caDir, spiffeid.RequireTrustDomainFromString("east.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	short, err := ca.SelfSVID(spiffeid.RequireFromString("spiffe://east.example/ns/shop/sa/reviews"), 3*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := p.ads(t, mtls(short, p.roots), node("reviews-1.shop", "reviews"))
	if err != nil {
		t.Fatalf("a proxy with a valid certificate: %v", err)
	}
	for err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable || time.Now().Before(short.NotAfter()) {
		t.Fatalf("the stream ended at %s with %v; want the connection closed when the certificate expired, at %s", time.Now(), err, short.NotAfter())
	}
}
