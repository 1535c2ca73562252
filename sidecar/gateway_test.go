package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

const (
	eastClientID = "spiffe://east.example/ns/shop/sa/productpage"
	westServerID = "spiffe://west.example/ns/shop/sa/reviews"
	gatewayIP    = "127.0.0.3"
)

// setIdentity gives a proxy its certificate, its trust domain's roots and
// a federated trust domain's bundle, as its identity source (the mesh CA
// or a SPIRE agent) does: federated bundles go under "spiffe://<domain>".
func setIdentity(t *testing.T, p *testProxy, cert, key, roots []byte, federatedTD string, federated []byte) {
	t.Helper()
	bundle := rootSecret(federated)
	bundle.Name = "spiffe://" + federatedTD
	var out []*config.Secret
	for _, s := range []*tlsv3.Secret{certSecret(cert, key), rootSecret(roots), bundle} {
		c, err := config.CompileSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	p.SetIdentity(out...)
}

// TestEastWestGatewayPassesMTLSThrough runs a client sidecar in
// east.example, and in west.example an east-west gateway configured by the
// control plane's translation and the sidecar of an exported service. The
// client's mTLS session ends at the west sidecar, which sees the east
// caller's identity; the gateway only routes on the server name, and
// refuses names it does not export and plaintext.
func TestEastWestGatewayPassesMTLSThrough(t *testing.T) {
	cp := startControlPlane(t)
	eastCA, westCA := newTestCA(t), newTestCA(t)
	server, gateway, client := startProxy(t, cp, "reviews"), startProxy(t, cp, "gateway"), startProxy(t, cp, "productpage")
	app := startBackend(t, "reviews", nil)
	inbound, outbound := freePort(t), freePort(t)

	// west: the reviews sidecar, which trusts east's bundle.
	cert, key := westCA.issue(t, westServerID)
	in := build.Listener("inbound|app", "127.0.0.2", inbound, corev3.TrafficDirection_INBOUND, build.HTTPManager("inbound", "inbound|app"))
	in.FilterChains[0].TransportSocket = downstreamTLS()
	v := cp.set(t, "reviews", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {staticCluster(false, app.port())},
		resourcev3.ListenerType: {in},
		resourcev3.RouteType:    {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
	})
	setIdentity(t, server, cert, key, westCA.pem, "east.example", eastCA.pem)
	server.waitVersion(t, resourcev3.RouteType, v)

	// west: the gateway, from the translation of a mesh exporting reviews.
	reviews := model.NamespacedName{Namespace: "shop", Name: "reviews"}
	west := &model.Mesh{
		Settings: model.Settings{ClusterName: "west", TrustDomain: "west.example", MTLS: model.MTLSStrict, Traffic: model.Traffic{ConnectTimeout: 5 * time.Second}},
		Services: []*model.Service{{
			Key: reviews, Exported: true, Ports: []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}},
			Endpoints: []model.Endpoint{{
				Address: netip.MustParseAddr("127.0.0.2"), Ports: map[string]uint32{"http": inbound}, Healthy: true,
				Identity: westServerID, Locality: model.Locality{Cluster: "west"},
			}},
		}},
	}
	gw := translate.Gateway(west, gatewayIP)
	v = cp.set(t, "gateway", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  asResources(gw.Clusters),
		resourcev3.EndpointType: asResources(gw.Endpoints),
		resourcev3.ListenerType: asResources(gw.Listeners),
	})
	gateway.waitVersion(t, resourcev3.ListenerType, v)
	gateway.waitVersion(t, resourcev3.EndpointType, v)

	// east: the productpage sidecar calls reviews through west's gateway.
	cert, key = eastCA.issue(t, eastClientID)
	name := translate.ClusterName(reviews, 9080)
	cl := build.Cluster(build.ClusterOptions{Name: name, HTTP2: true, Service: "reviews", Namespace: "shop", MeshCluster: "west"})
	cl.TransportSocket = upstreamTLSWithSNI(translate.ServerName(reviews, 9080), westServerID)
	v = cp.set(t, "productpage", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {cl},
		resourcev3.EndpointType: {build.LoadAssignment(name, build.Endpoints(0, "", build.Address(gatewayIP, translate.EastWestPort)))},
		resourcev3.ListenerType: {build.Listener("outbound", "127.0.0.1", outbound, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "outbound"))},
		resourcev3.RouteType:    {build.RouteConfig("outbound", build.VirtualHost("reviews", []string{"*"}, build.RouteToCluster("reviews", name, 0)))},
	})
	setIdentity(t, client, cert, key, eastCA.pem, "west.example", westCA.pem)
	client.waitVersion(t, resourcev3.RouteType, v)
	client.waitVersion(t, resourcev3.EndpointType, v)

	c := &http.Client{Timeout: 10 * time.Second}
	for range 5 {
		code, who, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", outbound))
		if code != http.StatusOK || who != "reviews" {
			t.Fatalf("through the gateway: %d from %q", code, who)
		}
	}
	// The west sidecar terminated the session and saw the east caller.
	if n := server.metric(t, "plexus_requests_total", "direction", "inbound", "source_namespace", "shop", "source_workload", "productpage"); n != 5 {
		t.Fatalf("the west sidecar counted %v requests from east's productpage, want 5", n)
	}
	// The gateway carried bytes, not requests.
	if n := gateway.metric(t, "plexus_requests_total"); n != 0 {
		t.Fatalf("the gateway handled %v HTTP requests: it must not terminate TLS", n)
	}

	// A server name that is not exported, and plaintext, are refused.
	for _, sni := range []string{translate.ServerName(model.NamespacedName{Namespace: "shop", Name: "ratings"}, 9080), translate.ServerName(reviews, 8080), ""} {
		conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", net.JoinHostPort(gatewayIP, fmt.Sprint(translate.EastWestPort)))
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // only whether the gateway answers matters
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = tc.HandshakeContext(ctx)
		cancel()
		_ = conn.Close()
		if err == nil {
			t.Errorf("server name %q: the gateway passed a connection for a service it does not export", sni)
		}
	}
	// Connections that close at once (load balancer health checks), stall
	// mid-ClientHello, or send a flood that is no ClientHello are dropped,
	// and the gateway keeps serving.
	gwAddr := net.JoinHostPort(gatewayIP, fmt.Sprint(translate.EastWestPort))
	for _, send := range [][]byte{nil, {0x16, 0x03}, append([]byte{0x16, 0x03, 0x01, 0xff, 0xff}, make([]byte, 20<<10)...)} {
		conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", gwAddr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(send)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.ReadAll(conn)
		_ = conn.Close()
	}
	if code, who, _ := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", outbound)); code != http.StatusOK || who != "reviews" {
		t.Fatalf("after bad connections, through the gateway: %d from %q", code, who)
	}

	conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", gwAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: reviews\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(conn); len(b) > 0 || err != nil {
		t.Errorf("plaintext to the gateway got %q, %v; want the connection closed", b, err)
	}
}

func upstreamTLSWithSNI(sni string, peerIDs ...string) *corev3.TransportSocket {
	ts := upstreamTLS(peerIDs...)
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		panic(err)
	}
	ctx.Sni = sni
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}
	return ts
}

func asResources[M types.Resource](list []M) []types.Resource {
	out := make([]types.Resource, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out
}
