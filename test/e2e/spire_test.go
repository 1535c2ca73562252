package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/testenv"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

const spireTD = "spire.example"

// spire runs a SPIRE server and an agent attested with a join token, both
// built from the Go module proxy by hack/spire.sh.
type spire struct {
	dir, bin, agentSocket string
}

func startSPIRE(t *testing.T) *spire {
	t.Helper()
	// make test builds SPIRE before the tests (it takes longer than a test
	// may); a plain go test builds it here.
	binDir, set := os.LookupEnv("PLEXUS_SPIRE_BIN")
	if set && binDir == "" {
		t.Skip("skipped: hack/spire.sh could not build SPIRE (see the make test output; it needs gcc)")
	}
	if !set {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(context.Background(), filepath.Join(root, "hack", "spire.sh")).Output()
		if err != nil {
			t.Fatalf("building SPIRE with hack/spire.sh: %v", err)
		}
		binDir = string(out)
	}
	lines := strings.Split(strings.TrimSpace(binDir), "\n")
	// The proxies run as their own users and must reach the agent and
	// read their bootstrap files: a directory all may enter.
	dir, err := os.MkdirTemp("", "plexus-spire-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &spire{dir: dir, bin: lines[len(lines)-1]}
	s.agentSocket = filepath.Join(s.dir, "agent.sock")
	port := testenv.FreePort(t)
	write := func(name, content string) string {
		path := filepath.Join(s.dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serverConf := write("server.conf", fmt.Sprintf(`server {
  bind_address = "127.0.0.1"
  bind_port = "%d"
  socket_path = "%s/server.sock"
  trust_domain = "%s"
  data_dir = "%s/server-data"
  log_level = "WARN"
  default_x509_svid_ttl = "1h"
}
plugins {
  DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "%s/datastore.sqlite3" } }
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
}
`, port, s.dir, spireTD, s.dir, s.dir))
	s.run(t, "server.log", "spire-server", "run", "-config", serverConf)
	testenv.Eventually(t, "SPIRE server healthy", func() error {
		return exec.CommandContext(context.Background(), filepath.Join(s.bin, "spire-server"), "healthcheck", "-socketPath", s.dir+"/server.sock").Run()
	})
	token := regexp.MustCompile(`Token: (\S+)`).FindStringSubmatch(s.server(t, "token", "generate", "-spiffeID", "spiffe://"+spireTD+"/agent"))
	if token == nil {
		t.Fatal("spire-server token generate printed no token")
	}
	agentConf := write("agent.conf", fmt.Sprintf(`agent {
  data_dir = "%s/agent-data"
  log_level = "WARN"
  server_address = "127.0.0.1"
  server_port = "%d"
  socket_path = "%s"
  trust_domain = "%s"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`, s.dir, port, s.agentSocket, spireTD))
	s.run(t, "agent.log", "spire-agent", "run", "-config", agentConf, "-joinToken", token[1])
	testenv.Eventually(t, "SPIRE agent healthy", func() error {
		return exec.CommandContext(context.Background(), filepath.Join(s.bin, "spire-agent"), "healthcheck", "-socketPath", s.agentSocket).Run()
	})
	return s
}

func (s *spire) run(t *testing.T, log, name string, args ...string) {
	t.Helper()
	startLoggedHere(t, filepath.Join(s.dir, log), filepath.Join(s.bin, name), args...)
}

func (s *spire) server(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "-socketPath", s.dir+"/server.sock")
	out, err := exec.CommandContext(context.Background(), filepath.Join(s.bin, "spire-server"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("spire-server %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// register gives processes of uid the identity path (unix workload
// attestation).
func (s *spire) register(t *testing.T, path string, uid int) {
	t.Helper()
	s.server(t, "entry", "create", "-parentID", "spiffe://"+spireTD+"/agent", "-spiffeID", "spiffe://"+spireTD+path, "-selector", fmt.Sprintf("unix:uid:%d", uid))
}

// proxyResource renders xDS resources as the bootstrap file takes them.
func proxyResource(t *testing.T, m proto.Message) json.RawMessage {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spireTLS(downstream bool, peer string) *corev3.TransportSocket {
	common := &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "default", SdsConfig: build.ADS()}},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ROOTCA", SdsConfig: build.ADS()},
		},
	}
	var ctx proto.Message
	if downstream {
		ctx = &tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: wrapperspb.Bool(true)}
	} else {
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: peer}},
			}}},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ROOTCA", SdsConfig: build.ADS()},
		}}
		ctx = &tlsv3.UpstreamTlsContext{CommonTlsContext: common}
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}}
}

// TestSPIREIdentities: two sidecars take their certificates from a real
// SPIRE agent through the SPIFFE Workload API and call each other over
// mTLS, each verifying the other's SPIRE-issued identity.
func TestSPIREIdentities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: the proxies run as their own users, which needs root (CI runs as root)")
	}
	s := startSPIRE(t)
	const serverID = "spiffe://" + spireTD + "/ns/shop/sa/reviews"
	s.register(t, "/ns/shop/sa/reviews", 1337)
	s.register(t, "/ns/shop/sa/productpage", 1338)

	app := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "reviews")
	})}
	appLn, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })
	appPort := uint32(appLn.Addr().(*net.TCPAddr).Port)
	inbound, outbound := uint32(testenv.FreePort(t)), uint32(testenv.FreePort(t))

	in := build.Listener("inbound", "127.0.0.2", inbound, corev3.TrafficDirection_INBOUND, build.HTTPManager("inbound", "inbound"))
	in.FilterChains[0].TransportSocket = spireTLS(true, "")
	serverBootstrap := map[string]any{
		"node": map[string]any{"id": "reviews"},
		"static_resources": map[string]any{
			"listeners": []json.RawMessage{proxyResource(t, in)},
			"routes":    []json.RawMessage{proxyResource(t, build.RouteConfig("inbound", build.VirtualHost("app", []string{"*"}, build.RouteToCluster("app", "app", 0))))},
			"clusters": []json.RawMessage{proxyResource(t, build.Cluster(build.ClusterOptions{Name: "app", Service: "reviews", Namespace: "shop", MeshCluster: "e2e",
				Static: []*endpointv3.LocalityLbEndpoints{build.Endpoints(0, "", build.Address("127.0.0.1", appPort))}}))},
		},
	}
	upstream := build.Cluster(build.ClusterOptions{Name: "reviews", HTTP2: true, Service: "reviews", Namespace: "shop", MeshCluster: "e2e",
		Static: []*endpointv3.LocalityLbEndpoints{build.Endpoints(0, "", build.Address("127.0.0.2", inbound))}})
	upstream.TransportSocket = spireTLS(false, serverID)
	clientBootstrap := map[string]any{
		"node": map[string]any{"id": "productpage"},
		"static_resources": map[string]any{
			"listeners": []json.RawMessage{proxyResource(t, build.Listener("outbound", "127.0.0.1", outbound, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("outbound", "outbound")))},
			"routes":    []json.RawMessage{proxyResource(t, build.RouteConfig("outbound", build.VirtualHost("reviews", []string{"*"}, build.RouteToCluster("reviews", "reviews", 0))))},
			"clusters":  []json.RawMessage{proxyResource(t, upstream)},
		},
	}
	startSPIREProxy(t, s, "reviews", serverBootstrap, 1337, 15100)
	startSPIREProxy(t, s, "productpage", clientBootstrap, 1338, 15101)

	testenv.Eventually(t, "a call over mTLS with SPIRE identities", func() error {
		code, body, err := testenv.Get(fmt.Sprintf("http://127.0.0.1:%d/", outbound))
		if err == nil && (code != http.StatusOK || body != "reviews") {
			err = fmt.Errorf("%d %q", code, body)
		}
		return err
	})
	// The server sidecar knew the caller by its SPIRE identity.
	_, metrics, err := testenv.Get("http://127.0.0.1:15100/metrics")
	if err != nil || !strings.Contains(metrics, `source_namespace="shop",source_workload="productpage"`) {
		t.Fatalf("the server's metrics do not name the SPIRE-identified caller: %v", err)
	}
}

func startSPIREProxy(t *testing.T, s *spire, name string, bootstrap map[string]any, uid uint32, admin int) {
	t.Helper()
	b, err := json.Marshal(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.dir, name+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), bin.proxy, "sidecar", "--bootstrap", file, "--spiffe-socket", "unix://"+s.agentSocket,
		"--admin-address", fmt.Sprintf("127.0.0.1:%d", admin), "--log-level", "debug")
	log, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("--- %s proxy:\n%s", name, b)
		}
	})
}
