package sidecar

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// testCA issues SPIFFE certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: "test.example"}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for a SPIFFE ID.
func (ca *testCA) issue(t testing.TB, id string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func certSecret(certPEM, keyPEM []byte) *tlsv3.Secret {
	const name = "default"
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: certPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}},
	}}}
}

func rootSecret(caPEM []byte) *tlsv3.Secret {
	const name = "ROOTCA"
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: caPEM}},
	}}}
}

func sdsConfig(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: build.ADS()}
}

// downstreamTLS terminates mTLS: a client certificate is required.
func downstreamTLS() *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig("default")},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsConfig("ROOTCA")},
		},
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}}
}

func upstreamTLS(peerIDs ...string) *corev3.TransportSocket {
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, id := range peerIDs {
		sans = append(sans, &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}}})
	}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig("default")},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: sdsConfig("ROOTCA"),
		}},
	}}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}}
}

const (
	clientID = "spiffe://test.example/ns/test/sa/client"
	serverID = "spiffe://test.example/ns/test/sa/server"
)

// mtlsMesh is a client and a server sidecar that speak mTLS (HTTP/2) to
// each other, in front of an HTTP app; or h2c, when plaintext.
type mtlsMesh struct {
	cp                    *controlPlane
	ca                    *testCA
	client, server        *testProxy
	outboundPort, inbound uint32
	app                   *backend
	plaintext             bool
}

func startMTLSMesh(t testing.TB, permissive bool, expectServer string) *mtlsMesh {
	return startSidecarPair(t, &mtlsMesh{}, permissive, expectServer)
}

func startSidecarPair(t testing.TB, m *mtlsMesh, permissive bool, expectServer string) *mtlsMesh {
	m.cp, m.ca, m.outboundPort, m.inbound = startControlPlane(t), newTestCA(t), freePort(t), freePort(t)
	m.server, m.client = startProxy(t, m.cp, "server"), startProxy(t, m.cp, "client")
	m.app = startBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			for i := range 5 {
				fmt.Fprintf(w, "chunk %d\n", i)
				http.NewResponseController(w).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		_, _ = io.WriteString(w, "app")
	})
	m.publishServer(t, permissive)
	m.publishClient(t, expectServer, nil)
	return m
}

func (m *mtlsMesh) publishServer(t testing.TB, permissive bool) {
	cert, key := m.ca.issue(t, serverID)
	inbound := build.Listener("inbound|app", "127.0.0.2", m.inbound, corev3.TrafficDirection_INBOUND, build.HTTPManager("inbound", "inbound|app"))
	if !m.plaintext {
		inbound.FilterChains[0].TransportSocket = downstreamTLS()
	}
	if permissive {
		inbound.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
		inbound.FilterChains = append(inbound.FilterChains, &listenerv3.FilterChain{
			FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"},
			Filters:          []*listenerv3.Filter{build.HTTPManager("inbound", "inbound|app")},
		})
	}
	resources := map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {staticCluster(false, m.app.port())},
		resourcev3.ListenerType: {inbound},
		resourcev3.RouteType:    {build.RouteConfig("inbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "inbound|app", 0)))},
	}
	if !m.plaintext {
		resources[resourcev3.SecretType] = []types.Resource{certSecret(cert, key), rootSecret(m.ca.pem)}
	}
	v := m.cp.set(t, "server", resources)
	if !m.plaintext {
		m.server.waitVersion(t, resourcev3.SecretType, v)
	}
	m.server.waitVersion(t, resourcev3.RouteType, v)
}

func (m *mtlsMesh) publishClient(t testing.TB, expectServer string, cert []byte, key ...[]byte) {
	if cert == nil {
		var k []byte
		cert, k = m.ca.issue(t, clientID)
		key = [][]byte{k}
	}
	cl := build.Cluster(build.ClusterOptions{Name: "outbound|app", HTTP2: true, Service: "app", Namespace: "test", MeshCluster: "local"})
	if !m.plaintext {
		cl.TransportSocket = upstreamTLS(expectServer)
	}
	resources := map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {cl},
		resourcev3.EndpointType: {build.LoadAssignment("outbound|app", build.Endpoints(0, "z1", build.Address("127.0.0.2", m.inbound)))},
		resourcev3.ListenerType: {build.Listener("outbound|app", "127.0.0.1", m.outboundPort, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "outbound|app"))},
		resourcev3.RouteType:    {build.RouteConfig("outbound|app", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "outbound|app", 0)))},
	}
	if !m.plaintext {
		resources[resourcev3.SecretType] = []types.Resource{certSecret(cert, key[0]), rootSecret(m.ca.pem)}
	}
	v := m.cp.set(t, "client", resources)
	if !m.plaintext {
		m.client.waitVersion(t, resourcev3.SecretType, v)
	}
	m.client.waitVersion(t, resourcev3.RouteType, v)
	m.client.waitVersion(t, resourcev3.EndpointType, v)
}

func (m *mtlsMesh) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", m.outboundPort, path)
}

func (m *mtlsMesh) plaintextURL() string { return fmt.Sprintf("http://127.0.0.2:%d/", m.inbound) }

func plainClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestMTLSStrict(t *testing.T) {
	m := startMTLSMesh(t, false, serverID)
	if code, who, reason := get(t, plainClient(), m.url("/")); code != http.StatusOK || who != "app" {
		t.Fatalf("through two sidecars over mTLS: %d from %q (%s)", code, who, reason)
	}
	// The server sidecar knows the caller from its certificate.
	if n := m.server.metric(t, "plexus_requests_total", "direction", "inbound", "source_namespace", "test", "source_workload", "client"); n != 1 {
		t.Fatalf("inbound requests from the client identity: %v, want 1", n)
	}
	// STRICT: a plaintext caller reaching the inbound port directly is cut off.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, m.plaintextURL(), nil)
	if resp, err := plainClient().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("plaintext request to a STRICT inbound listener got %d; want the connection refused", resp.StatusCode)
	}
	// A caller without a certificate from the mesh CA is refused too.
	other := newTestCA(t)
	cert, key := other.issue(t, clientID)
	m.publishClient(t, serverID, cert, key)
	m.client.Clusters()["outbound|app"].Close() // open connections keep their old certificate
	if code, _, reason := get(t, plainClient(), m.url("/")); code != http.StatusServiceUnavailable || !strings.HasPrefix(reason, "upstream_") {
		t.Fatalf("client with a foreign certificate: %d %q, want 503 from a failed handshake", code, reason)
	}
}

func TestMTLSVerifiesTheServerIdentity(t *testing.T) {
	m := startMTLSMesh(t, false, "spiffe://test.example/ns/test/sa/someone-else")
	code, _, reason := get(t, plainClient(), m.url("/"))
	if code != http.StatusServiceUnavailable || reason != "upstream_connect_failure" {
		t.Fatalf("server with an unexpected SPIFFE ID: %d %q, want 503 upstream_connect_failure", code, reason)
	}
	if m.app.hits.Load() != 0 {
		t.Fatal("the request reached the app although the server's identity was wrong")
	}
}

func TestMTLSPermissiveAcceptsBoth(t *testing.T) {
	m := startMTLSMesh(t, true, serverID)
	if code, who, _ := get(t, plainClient(), m.url("/")); code != http.StatusOK || who != "app" {
		t.Fatalf("mTLS in PERMISSIVE: %d from %q", code, who)
	}
	if code, who, _ := get(t, plainClient(), m.plaintextURL()); code != http.StatusOK || who != "app" {
		t.Fatalf("plaintext in PERMISSIVE: %d from %q", code, who)
	}
	// The server counts each kind, so users see when STRICT is safe.
	if n := m.server.metric(t, "plexus_inbound_connections_total", "mtls", "false"); n != 1 {
		t.Errorf("plaintext connections counted: %v, want 1", n)
	}
	if n := m.server.metric(t, "plexus_inbound_connections_total", "mtls", "true"); n < 1 {
		t.Errorf("mTLS connections counted: %v, want at least 1", n)
	}
}

func TestCertificateRotationKeepsConnections(t *testing.T) {
	m := startMTLSMesh(t, false, serverID)
	client := &http.Client{Timeout: 30 * time.Second}
	// A streaming response is in flight on the mTLS connection...
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, m.url("/stream"), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// ...while the client's certificate is replaced.
	m.publishClient(t, serverID, nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "chunk") != 5 {
		t.Fatalf("stream across a rotation: %q, %v", body, err)
	}
	// New connections use the new certificate and still work.
	m.client.Clusters()["outbound|app"].Close()
	if code, who, reason := get(t, plainClient(), m.url("/")); code != http.StatusOK || who != "app" {
		t.Fatalf("after rotation: %d from %q (%s)", code, who, reason)
	}
}
