package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/xds/build"
)

func rbacPolicy(perm *rbacv3.Permission, prin *rbacv3.Principal) *rbacv3.Policy {
	return &rbacv3.Policy{Permissions: []*rbacv3.Permission{perm}, Principals: []*rbacv3.Principal{prin}}
}

func anyPrincipal() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func peerIs(id string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{
		PrincipalName: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}},
	}}}
}

func pathPrefix(p string) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{Rule: &matcherv3.PathMatcher_Path{
		Path: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p}},
	}}}}
}

func methodIs(m string) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{Name: ":method",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m}}}}}}
}

// TestAuthorizationHTTP: the server sidecar denies /admin/* to everyone
// (deny wins) and allows only the client identity to GET; a plaintext
// caller in PERMISSIVE mode has no identity and is refused.
func TestAuthorizationHTTP(t *testing.T) {
	m := startMTLSMesh(t, true, serverID)
	deny := build.RBACHTTPFilter(&rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{
		"shop/no-admin[0]": rbacPolicy(pathPrefix("/admin/"), anyPrincipal()),
	}})
	allow := build.RBACHTTPFilter(&rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{
		"shop/readers[0]": rbacPolicy(methodIs("GET"), peerIs(clientID)),
	}})
	m.publishServerWith(t, build.HTTPManagerWithFilters("inbound", "inbound|app", deny, allow))

	if code, who, reason := get(t, plainClient(), m.url("/")); code != http.StatusOK || who != "app" {
		t.Fatalf("GET by the allowed identity: %d from %q (%s)", code, who, reason)
	}
	if code, _, reason := get(t, plainClient(), m.url("/admin/users")); code != http.StatusForbidden || reason != "rbac_access_denied" {
		t.Fatalf("GET /admin/ (denied to all): %d %q, want 403 rbac_access_denied", code, reason)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, m.url("/orders"), nil)
	resp, err := plainClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || string(body) != "plexus: rbac_access_denied: no authorization policy allows "+clientID+"\n" {
		t.Fatalf("POST (not allowed): %d %q", resp.StatusCode, body)
	}
	if code, _, reason := get(t, plainClient(), m.plaintextURL()); code != http.StatusForbidden || reason != "rbac_access_denied" {
		t.Fatalf("plaintext caller without an identity: %d %q, want 403", code, reason)
	}
	if n := m.server.metric(t, "plexus_local_replies_total", "direction", "inbound", "reason", "rbac_access_denied", "response_code", "403"); n != 3 {
		t.Fatalf("denials counted: %v, want 3", n)
	}
	if m.app.hits.Load() != 1 {
		t.Fatalf("the app saw %d requests, want only the allowed one", m.app.hits.Load())
	}
}

// publishServerWith replaces the server's inbound listener: one mTLS
// chain and one plaintext chain, both with filter.
func (m *mtlsMesh) publishServerWith(t *testing.T, filter *listenerv3.Filter) {
	cert, key := m.ca.issue(t, serverID)
	inbound := build.Listener("inbound|app", "127.0.0.2", m.inbound, corev3.TrafficDirection_INBOUND, filter)
	inbound.FilterChains[0].TransportSocket = downstreamTLS()
	inbound.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
	inbound.FilterChains = append(inbound.FilterChains, &listenerv3.FilterChain{
		FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"},
		Filters:          []*listenerv3.Filter{filter},
	})
	v := m.cp.set(t, "server", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {staticCluster(false, m.app.port())},
		resourcev3.ListenerType: {inbound},
		resourcev3.RouteType:    {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
		resourcev3.SecretType:   {certSecret(cert, key), rootSecret(m.ca.pem)},
	})
	m.server.waitVersion(t, resourcev3.ListenerType, v)
}

// TestAuthorizationTCP: a network RBAC filter allows only one port; a
// connection to any other is closed before it reaches the backend.
func TestAuthorizationTCP(t *testing.T) {
	backend := echoServer(t)
	cp := startControlPlane(t)
	p := startProxy(t, cp, "server")
	open, closed := freePort(t), freePort(t)
	listener := func(name string, port uint32) *listenerv3.Listener {
		l := build.Listener(name, "127.0.0.1", port, corev3.TrafficDirection_INBOUND, build.TCPProxy("inbound", "db"))
		l.FilterChains[0].Filters = append([]*listenerv3.Filter{build.RBACNetworkFilter("inbound", &rbacv3.RBAC{
			Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{
				"db/open-port[0]": rbacPolicy(&rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: open}}, anyPrincipal()),
			}})}, l.FilterChains[0].Filters...)
		return l
	}
	v := cp.set(t, "server", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {build.Cluster(build.ClusterOptions{Name: "db", LB: clusterv3.Cluster_ROUND_ROBIN, Service: "db", Namespace: "test", MeshCluster: "local"})},
		resourcev3.EndpointType: {build.LoadAssignment("db", build.Endpoints(0, "z1", build.Address("127.0.0.1", uint32(backend.Port))))},
		resourcev3.ListenerType: {listener("allowed", open), listener("refused", closed)},
	})
	p.waitVersion(t, resourcev3.ListenerType, v)
	p.waitVersion(t, resourcev3.EndpointType, v)

	echo := func(port uint32) (string, error) {
		conn := dial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "ping"); err != nil {
			return "", err
		}
		_ = conn.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(conn)
		return string(b), err
	}
	if got, err := echo(open); got != "ping" || err != nil {
		t.Fatalf("allowed port: %q %v", got, err)
	}
	if got, _ := echo(closed); got != "" {
		t.Fatalf("refused port echoed %q; want the connection closed", got)
	}
	if n := p.metric(t, "plexus_local_replies_total", "direction", "inbound", "reason", "rbac_access_denied"); n != 1 {
		t.Fatalf("denied connections counted: %v, want 1", n)
	}
}

// TestAuthorizationGRPC: a gRPC caller that is denied gets
// PERMISSION_DENIED, not an HTTP status it cannot read.
func TestAuthorizationGRPC(t *testing.T) {
	cp := startControlPlane(t)
	p := startProxy(t, cp, "server")
	port := freePort(t)
	deny := build.RBACHTTPFilter(&rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{
		"test/no-unary[0]": rbacPolicy(pathPrefix("/grpc.testing.TestService/UnaryCall"), anyPrincipal()),
	}})
	v := cp.set(t, "server", map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: {staticCluster(true, 1)},
		resourcev3.ListenerType: {build.Listener("inbound|app", "127.0.0.1", port, corev3.TrafficDirection_INBOUND,
			build.HTTPManagerWithFilters("inbound", "inbound|app", deny))},
		resourcev3.RouteType: {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
	})
	p.waitVersion(t, resourcev3.RouteType, v)
	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	if s, _ := status.FromError(err); s.Code() != codes.PermissionDenied {
		t.Fatalf("denied gRPC call: %v, want PERMISSION_DENIED", err)
	}
}
