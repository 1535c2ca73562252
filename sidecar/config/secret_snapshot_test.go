package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

func TestParseRetryOn(t *testing.T) {
	for in, want := range map[string]config.RetryOn{
		"": 0, " , ,": 0, "5xx": config.Retry5xx, "5xx,5xx": config.Retry5xx,
		"5xx, gateway-error ,reset,connect-failure":           config.Retry5xx | config.RetryGatewayError | config.RetryReset | config.RetryConnectFailure,
		"retriable-4xx,refused-stream,retriable-status-codes": config.RetryRetriable4xx | config.RetryRefusedStream | config.RetryRetriableStatusCodes,
		"cancelled,deadline-exceeded,unavailable,resource-exhausted,internal": config.RetryGRPCCancelled | config.RetryGRPCDeadlineExceeded |
			config.RetryGRPCUnavailable | config.RetryGRPCResourceExhausted | config.RetryGRPCInternal,
	} {
		if got, err := config.ParseRetryOn(in); err != nil || got != want {
			t.Errorf("ParseRetryOn(%q) = %b, %v; want %b", in, got, err, want)
		}
	}
	for in, bad := range map[string]string{"5xx,bogus": "bogus", "5XX": "5XX", "5xx;reset": "5xx;reset"} {
		_, err := config.ParseRetryOn(in)
		wantErr(t, err, fmt.Sprintf("unknown retry condition %q", bad))
	}
}

// certs are test PEMs: a CA, a SPIFFE workload certificate it signed with
// its key, a second key, and a certificate without a SPIFFE ID with its key.
type certs struct{ ca, svid, key, otherKey, plain, plainKey []byte }

const spiffeID = "spiffe://cluster.local/ns/prod/sa/web"

func newCerts(t *testing.T) certs {
	t.Helper()
	key := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	now := time.Now()
	issue := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) []byte {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	var c certs
	caKey, _ := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	c.ca = issue(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	u, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, leafPEM := key()
	leaf := func(serial int64, uris []*url.URL) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "web"}, URIs: uris,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	}
	c.svid, c.key = issue(leaf(2, []*url.URL{u}), caTmpl, &leafKey.PublicKey, caKey), leafPEM
	_, c.otherKey = key()
	plainKey, plainPEM := key()
	c.plain, c.plainKey = issue(leaf(3, nil), caTmpl, &plainKey.PublicKey, caKey), plainPEM
	return c
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

func certSecret(chain, key *corev3.DataSource) *tlsv3.Secret {
	return &tlsv3.Secret{Name: "default", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: chain, PrivateKey: key}}}
}

func caSecret(name string, ca []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inlineBytes(ca)}}}
}

func TestCompileSecret(t *testing.T) {
	c := newCerts(t)
	for _, s := range []*tlsv3.Secret{
		certSecret(inlineBytes(c.svid), inlineBytes(c.key)),
		certSecret(&corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(c.svid)}},
			&corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(c.key)}}),
	} {
		got, err := config.CompileSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "default" || got.SVID == nil || got.SVID.ID.String() != spiffeID || got.SVID.Certificates[0].Subject.CommonName != "web" || got.Roots != nil {
			t.Fatalf("certificate secret compiled to %+v", got)
		}
	}
	got, err := config.CompileSecret(caSecret("ROOTCA", append(append([]byte("# comment\n"), c.ca...), c.svid...)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "ROOTCA" || got.SVID != nil || len(got.Roots) != 2 || got.Roots[0].Subject.CommonName != "test CA" {
		t.Fatalf("validation secret compiled to %+v", got)
	}

	type S = *tlsv3.Secret
	data := func(set func(S, *corev3.DataSource), d *corev3.DataSource) func(S) { return func(s S) { set(s, d) } }
	chain := func(s S, d *corev3.DataSource) { s.GetTlsCertificate().CertificateChain = d }
	key := func(s S, d *corev3.DataSource) { s.GetTlsCertificate().PrivateKey = d }
	ca := func(b []byte) func(S) { return func(s S) { *s = *caSecret(s.Name, b) } }
	testErrors(t, func() S { return certSecret(inlineBytes(c.svid), inlineBytes(c.key)) }, config.CompileSecret, []errCase[S]{
		{"certificate and key do not match", data(key, inlineBytes(c.otherKey)), []string{`secret "default": certificate and key do not form a valid pair`}},
		{"chain is not PEM", data(chain, inlineBytes([]byte("garbage"))), []string{"do not form a valid pair"}},
		{"no SPIFFE ID", func(s S) { chain(s, inlineBytes(c.plain)); key(s, inlineBytes(c.plainKey)) }, []string{"not a SPIFFE workload certificate"}},
		{"no private key", data(key, nil), []string{`secret "default": private_key: missing`}},
		{"no chain", data(chain, nil), []string{"certificate_chain: missing"}},
		{"key from a file", data(key, &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/key.pem"}}), []string{"private_key: only inline data is supported"}},
		{"trusted_ca is not PEM", ca([]byte("not a certificate")), []string{`secret "default": trusted_ca`, "holds no PEM certificate"}},
		{"trusted_ca holds only a key", ca(c.key), []string{"holds no PEM certificate"}},
		{"no name", func(s S) { s.Name = "" }, []string{"secret without a name"}},
		{"generic secret", func(s S) { s.Type = &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{}} },
			[]string{"only tls_certificate and validation_context secrets are supported"}},
	})
}

func anys(ms ...proto.Message) []*anypb.Any {
	out := make([]*anypb.Any, 0, len(ms))
	for _, m := range ms {
		out = append(out, build.Any(m))
	}
	return out
}

func TestSnapshotWith(t *testing.T) {
	c := newCerts(t)
	cluster := func(name string, lb clusterv3.Cluster_LbPolicy) proto.Message {
		return build.Cluster(build.ClusterOptions{Name: name, LB: lb})
	}
	empty := config.Empty()
	s1, err := empty.With(resourcev3.ClusterType, "1", anys(cluster("web", 0), cluster("db", 0)))
	if err != nil || len(s1.Clusters) != 2 || s1.Clusters["web"].EDSName != "web" || s1.Versions[resourcev3.ClusterType] != "1" || len(s1.Raw[resourcev3.ClusterType]) != 2 {
		t.Fatalf("snapshot after clusters: %+v, %v", s1, err)
	}
	if len(empty.Clusters)+len(empty.Versions)+len(empty.Raw) != 0 {
		t.Fatalf("With changed the snapshot it was called on: %+v", empty)
	}
	// Each type lands in its map; the other types are carried over.
	s := s1
	for typeURL, step := range map[string]struct {
		res []proto.Message
		ok  func(*config.Snapshot) bool
	}{
		resourcev3.EndpointType: {[]proto.Message{build.LoadAssignment("web", build.Endpoints(0, "z", build.Address("10.0.0.1", 80)))},
			func(s *config.Snapshot) bool {
				return s.Endpoints["web"].Localities[0].Endpoints[0].Address == "10.0.0.1:80"
			}},
		resourcev3.ListenerType: {[]proto.Message{build.Listener("out", "127.0.0.1", 15001, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("out", "routes"))},
			func(s *config.Snapshot) bool { return s.Listeners["out"].FilterChains[0].HTTP.RouteName == "routes" }},
		resourcev3.RouteType: {[]proto.Message{build.RouteConfig("routes", build.VirtualHost("vh", []string{"*"}, build.RouteToCluster("r", "web", time.Second)))},
			func(s *config.Snapshot) bool { return s.Routes["routes"].VirtualHosts[0].Name == "vh" }},
		resourcev3.SecretType: {[]proto.Message{certSecret(inlineBytes(c.svid), inlineBytes(c.key)), caSecret("ROOTCA", c.ca)},
			func(s *config.Snapshot) bool {
				return s.Secrets["default"].SVID != nil && len(s.Secrets["ROOTCA"].Roots) == 1
			}},
	} {
		next, err := s.With(typeURL, "2", anys(step.res...))
		if err != nil || !step.ok(next) || next.Versions[typeURL] != "2" || next.Clusters["web"] != s1.Clusters["web"] {
			t.Fatalf("%s: snapshot %+v, %v", typeURL, next, err)
		}
		if _, ok := s.Versions[typeURL]; ok {
			t.Fatalf("%s: With changed the versions of the snapshot it was called on", typeURL)
		}
		s = next
	}
	for _, tt := range []struct {
		name, typeURL string
		res           []proto.Message
		want          []string
	}{
		{"duplicate name", resourcev3.ClusterType, []proto.Message{cluster("web", 0), cluster("web", clusterv3.Cluster_RANDOM)}, []string{`two resources are named "web"`}},
		{"unknown type", resourcev3.RuntimeType, nil, []string{`resource type "` + resourcev3.RuntimeType + `" is not supported`}},
		{"wrong message type", resourcev3.ClusterType, []proto.Message{build.LoadAssignment("web")}, []string{"decoding " + resourcev3.EndpointType}},
		{"every error is reported", resourcev3.ClusterType, []proto.Message{cluster("a", clusterv3.Cluster_MAGLEV), cluster("ok", 0), cluster("b", clusterv3.Cluster_RING_HASH)},
			[]string{`cluster "a": lb_policy MAGLEV`, `cluster "b": lb_policy RING_HASH`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.With(tt.typeURL, "3", anys(tt.res...))
			wantErr(t, err, tt.want...)
			if got != nil {
				t.Fatalf("got a snapshot with the error")
			}
			if v := s.Versions[resourcev3.ClusterType]; v != "1" || len(s.Clusters) != 2 || s.Clusters["web"] != s1.Clusters["web"] || len(s.Raw[resourcev3.ClusterType]) != 2 {
				t.Fatalf("a failed With changed the snapshot: version %q, clusters %v", v, s.Clusters)
			}
			if _, ok := s.Versions[resourcev3.RuntimeType]; ok {
				t.Fatal("a failed With recorded a version")
			}
		})
	}
}
