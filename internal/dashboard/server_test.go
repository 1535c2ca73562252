package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/dashboard/dashboardtest"
)

func fixtureServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := dashboard.New(dashboard.Config{
		Snapshot: dashboardtest.Snapshot,
		Metrics:  dashboardtest.Metrics{EdgeList: dashboardtest.Edges()},
		NACKs:    func() []dashboard.NACK { return nil },
		ProxyConfig: func(id string) (json.RawMessage, bool) {
			if id != "frontend-1.shop" {
				return nil, false
			}
			return json.RawMessage(`{"node":"frontend-1.shop","listeners":[{"name":"explicit|10.0.0.10:19999"}]}`), true
		},
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func fetch(t *testing.T, url string, v any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode, resp.Header
}

func TestAPI(t *testing.T) {
	ts := fixtureServer(t)
	var topo dashboard.Topology
	code, h := fetch(t, ts.URL+"/api/topology?window=2m", &topo)
	if code != http.StatusOK || topo.Window != "2m" || topo.Source != "fixture" || len(topo.Edges) != 4 {
		t.Fatalf("topology: %d %+v", code, topo)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP: %v", h)
	}
	var e map[string]string
	if code, _ := fetch(t, ts.URL+"/api/topology?window=forever", &e); code != http.StatusBadRequest || !strings.Contains(e["error"], "want a duration") {
		t.Errorf("a bad window: %d %v", code, e)
	}
	var d dashboard.ServiceDetail
	if code, _ := fetch(t, ts.URL+"/api/services/east/shop/reviews?span=5m", &d); code != http.StatusOK || d.Series == nil || len(d.Series.Times) == 0 || len(d.Routes) != 1 {
		t.Errorf("reviews: %d %+v", code, d)
	}
	if code, _ := fetch(t, ts.URL+"/api/services/east/shop/nope", &e); code != http.StatusNotFound || !strings.Contains(e["error"], "no service shop/nope in cluster east") {
		t.Errorf("an unknown service: %d %v", code, e)
	}
	var st dashboard.Status
	if code, _ := fetch(t, ts.URL+"/api/status", &st); code != http.StatusOK || st.Cluster != "east" || len(st.Proxies) != 3 || len(st.Peers) != 1 ||
		st.Proxies[0].Identity != "spiffe://east.example/ns/shop/sa/frontend" || st.Proxies[1].Role != "gateway" {
		t.Errorf("status: %d %+v", code, st)
	}
	var checks []dashboard.Check
	if code, _ := fetch(t, ts.URL+"/api/check", &checks); code != http.StatusOK || len(checks) == 0 {
		t.Errorf("check: %d %+v", code, checks)
	}
	var cfg struct {
		Listeners []map[string]any   `json:"listeners"`
		Secrets   []dashboard.Secret `json:"secrets"`
	}
	if code, _ := fetch(t, ts.URL+"/api/proxies/frontend-1.shop/config", &cfg); code != http.StatusOK || len(cfg.Listeners) != 1 || len(cfg.Secrets) != 3 ||
		cfg.Secrets[0].Identity != "spiffe://east.example/ns/shop/sa/frontend" || cfg.Secrets[2].Name != "spiffe://west.example" {
		t.Errorf("proxy config: %d %+v", code, cfg)
	}
	if code, _ := fetch(t, ts.URL+"/api/proxies/ghost/config", &e); code != http.StatusNotFound || !strings.Contains(e["error"], `no proxy "ghost" is connected`) {
		t.Errorf("an unknown proxy: %d %v", code, e)
	}
	if code, _ := fetch(t, ts.URL+"/api/nothing", &e); code != http.StatusNotFound || !strings.Contains(e["error"], "/api/topology") {
		t.Errorf("an unknown path: %d %v", code, e)
	}
}

func TestEvents(t *testing.T) {
	ts := fixtureServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() || sc.Text() != "event: topology" || !sc.Scan() || !strings.HasPrefix(sc.Text(), "data: ") {
		t.Fatalf("first event: %q", sc.Text())
	}
	var topo dashboard.Topology
	if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "data: ")), &topo); err != nil || topo.Cluster != "east" {
		t.Fatalf("event data: %v %+v", err, topo)
	}
}

func TestSecondsInJSON(t *testing.T) {
	b, err := json.Marshal(dashboard.Series{Step: dashboard.Seconds(1500 * time.Millisecond)})
	if err != nil || !strings.Contains(string(b), `"stepSeconds":1.5`) {
		t.Fatalf("%s %v", b, err)
	}
	var s dashboard.Series
	if err := json.Unmarshal(b, &s); err != nil || time.Duration(s.Step) != 1500*time.Millisecond {
		t.Fatalf("%v %v", s.Step, err)
	}
}

// A request addressed to another host (a name a web page points at
// 127.0.0.1: DNS rebinding) is refused; loopback names and allowed hosts
// are served.
func TestHostCheck(t *testing.T) {
	srv := dashboard.New(dashboard.Config{Snapshot: dashboardtest.Snapshot, AllowedHosts: []string{"mesh.example.com"}})
	for host, want := range map[string]int{
		"127.0.0.1:15080": http.StatusOK, "localhost:15080": http.StatusOK, "[::1]:15080": http.StatusOK,
		"mesh.example.com": http.StatusOK, "evil.example:15080": http.StatusForbidden, "10.0.0.5:15080": http.StatusForbidden,
	} {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/api/status", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d (%s)", host, rec.Code, want, rec.Body)
		}
	}
}

// countingMetrics counts how often the source is asked.
type countingMetrics struct {
	dashboardtest.Metrics
	mu    sync.Mutex
	calls int
}

func (c *countingMetrics) Edges(ctx context.Context, w time.Duration) ([]dashboard.EdgeStats, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.Metrics.Edges(ctx, w)
}

// Many open tabs cost the signal source one query per interval, not one
// each.
func TestTopologySharesTheSource(t *testing.T) {
	m := &countingMetrics{Metrics: dashboardtest.Metrics{EdgeList: dashboardtest.Edges()}}
	srv := dashboard.New(dashboard.Config{Snapshot: dashboardtest.Snapshot, Metrics: m, Interval: time.Hour})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if topo := srv.Topology(context.Background(), time.Minute); len(topo.Edges) != 4 {
				t.Errorf("%d edges", len(topo.Edges))
			}
		}()
	}
	wg.Wait()
	_ = srv.Topology(context.Background(), 2*time.Minute)
	if m.calls != 2 {
		t.Errorf("the source was asked %d times, want once per window", m.calls)
	}
}
