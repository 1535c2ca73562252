package sidecar

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/sidecar/admin"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
)

// TestConfigDumpRedactsPrivateKeys: /config_dump may be pasted into bug
// reports, so it shows certificates but never private keys.
func TestConfigDumpRedactsPrivateKeys(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, clientID)
	m := metrics.New(metrics.Workload{})
	p := New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), m)
	next, err := p.Snapshot().With(resourcev3.SecretType, "1", []*anypb.Any{build.Any(certSecret(cert, key)), build.Any(rootSecret(ca.pem))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(next); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(p, m.Registry))
	defer srv.Close()
	code, body := fetch(t, srv.URL+"/config_dump")
	if code != http.StatusOK {
		t.Fatalf("/config_dump: %d", code)
	}
	if strings.Contains(body, "PRIVATE KEY") || strings.Contains(body, "privateKey") {
		t.Fatal("/config_dump shows a private key")
	}
	if !strings.Contains(body, `"name":"default"`) || !strings.Contains(body, "certificateChain") {
		t.Fatalf("/config_dump lost the certificate itself:\n%s", body)
	}
	// Not ready: no listeners yet.
	if code, body := fetch(t, srv.URL+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "nolisteners") {
		t.Fatalf("/ready without listeners: %d %q", code, body)
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.ReplaceAll(string(b), " ", "")
}
