package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/plexus-mesh/plexus/internal/demo"
	"github.com/plexus-mesh/plexus/internal/testenv/browser"
)

// The demo's topology as east's dashboard draws it.
const (
	dashLoadgen   = "workload:east/shop/loadgen"
	dashFrontend  = "service:east/shop/frontend"
	dashReviews   = "service:east/shop/reviews" // the route's parent: no traffic of its own
	dashReviewsV1 = "service:east/shop/reviews-v1"
	dashReviewsV2 = "service:east/shop/reviews-v2"
	dashRatings   = "service:west/shop/ratings"
	dashGwEast    = "gateway:east"
	dashGwWest    = "gateway:west"

	// dashRPS is the demo's request rate.
	dashRPS = 20

	// The colours of the dashboard's app.css (--error, --ok) as the
	// browser computes them.
	dashRed   = "rgb(220, 38, 38)"
	dashGreen = "rgb(22, 163, 74)"
)

// dashEdge is an edge the page must draw, with its health and colour
// ("" for any).
type dashEdge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Via    string `json:"via"`
	Health string `json:"health"`
	Stroke string `json:"stroke"`
}

// dashWant is what the topology view must show, and nothing else.
type dashWant struct {
	Clusters []string   `json:"clusters"`
	Nodes    []string   `json:"nodes"`
	Edges    []dashEdge `json:"edges"`
}

// dashProblemsJS lists how the topology drawn differs from want (a
// dashWant as JSON): missing or unexpected clusters, nodes or edges, an
// edge of another health or colour, or one whose label shows no traffic.
const dashProblemsJS = `((want) => {
	const out = [];
	if (!document.body.dataset.updated) out.push('no topology drawn yet');
	const clusters = [...document.querySelectorAll('g.cluster')].map((c) => c.dataset.cluster);
	for (const c of want.clusters) if (!clusters.includes(c)) out.push('no cluster ' + c);
	for (const c of clusters) if (!want.clusters.includes(c)) out.push('unexpected cluster ' + c);
	const nodes = [...document.querySelectorAll('g.node')].map((n) => n.dataset.nodeId);
	for (const n of want.nodes) if (!nodes.includes(n)) out.push('no node ' + n);
	for (const n of nodes) if (!want.nodes.includes(n)) out.push('unexpected node ' + n);
	const label = (e) => {
		const l = [...document.querySelectorAll('g.edge-label')].find((l) => l.dataset.source === e.dataset.source && l.dataset.target === e.dataset.target);
		const t = l && l.querySelector('text');
		return t ? t.textContent : '';
	};
	const edges = [...document.querySelectorAll('g.edge')];
	for (const e of edges) {
		if (!want.edges.some((w) => w.source === e.dataset.source && w.target === e.dataset.target)) {
			out.push('unexpected edge ' + e.dataset.source + ' → ' + e.dataset.target + ' (' + e.dataset.health + ': ' + label(e) + ')');
		}
	}
	for (const w of want.edges) {
		const name = w.source + ' → ' + w.target;
		const e = edges.find((e) => e.dataset.source === w.source && e.dataset.target === w.target);
		if (!e) {
			out.push('no edge ' + name);
			continue;
		}
		const text = label(e);
		const stroke = getComputedStyle(e.querySelector('path.edge-line')).stroke;
		if ((e.dataset.via || '') !== w.via) out.push(name + ' goes via "' + (e.dataset.via || '') + '", want "' + w.via + '"');
		if (w.health && e.dataset.health !== w.health) out.push(name + ' is ' + e.dataset.health + ', want ' + w.health + ' (' + text + ')');
		if (w.stroke && stroke !== w.stroke) out.push(name + ' is drawn in ' + stroke + ', want ' + w.stroke);
		if (!(parseFloat(text) > 0)) out.push(name + ' shows no traffic: "' + text + '"');
	}
	return out;
})(%s)`

// TestDashboardShowsTheDemo runs the demo (plexctl demo) in this process
// and checks in Chromium that east's dashboard draws it: both clusters,
// the sample application's services, the gateways and the calls between
// them with their traffic; that an edge turns red when its service fails;
// and that a service's page opens from the graph. Screenshots are saved
// as artifacts and, with PLEXUS_SCREENSHOTS set, as the documentation's
// images.
func TestDashboardShowsTheDemo(t *testing.T) {
	if bin.proxy == "" {
		t.Skip("the e2e binaries are built when running as root")
	}
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	browser.Chromium(t) // skip before starting the demo when there is none
	artifacts := browser.Artifacts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	urls := startDemo(t, ctx)
	// Started after the demo, the browser is closed before it: the page
	// does not see the dashboard go away.
	tab, console := browser.Start(t, ctx)
	browser.Run(t, tab, "opening east's dashboard", chromedp.Navigate(urls.EastDashboard))

	// Every part of the demo, and traffic on every call, all healthy. The
	// rates are over a minute, and the demo's readiness probes, sent
	// before east knows west's ratings, stay in it for that long: as
	// loadgen → frontend errors, and (with Prometheus) as calls of the
	// frontend to an "unknown" service in an "unknown" cluster.
	healthy := func(source, target, via string) dashEdge {
		return dashEdge{Source: source, Target: target, Via: via, Health: "ok", Stroke: dashGreen}
	}
	want := dashWant{
		Clusters: []string{"east", "west"},
		Nodes:    []string{dashLoadgen, dashFrontend, dashReviews, dashReviewsV1, dashReviewsV2, dashRatings, dashGwEast, dashGwWest},
		Edges: []dashEdge{
			healthy(dashLoadgen, dashFrontend, ""),
			healthy(dashFrontend, dashReviewsV1, ""),
			healthy(dashFrontend, dashReviewsV2, ""),
			healthy(dashFrontend, dashRatings, dashGwWest),
		},
	}
	waitForTopology(t, tab, "the demo's topology is drawn, healthy, with traffic on every edge", want, 90*time.Second)
	source := browser.Run(t, tab, "reading the signals' source", chromedp.Evaluate[string](`document.getElementById('hdr-source').textContent`))
	wantSource := "proxies" // the control plane scrapes them itself
	if urls.Prometheus != "" {
		wantSource = "prometheus"
	}
	if source != wantSource {
		t.Errorf("the header says the signals come from %q, want %q", source, wantSource)
	}
	docs := os.Getenv("PLEXUS_SCREENSHOTS")
	if docs != "" {
		// The documentation shows rates over a full window: the demo's
		// rate on loadgen → frontend.
		browser.Poll(t, tab, "loadgen → frontend carries the demo's rate", fmt.Sprintf(
			`parseFloat(document.querySelector('g.edge-label[data-source=%q][data-target=%q] text').textContent) >= %d`,
			dashLoadgen, dashFrontend, dashRPS*9/10), 90*time.Second)
	}
	browser.Screenshot(t, tab, artifacts, "demo-topology.png")

	// reviews-v2 fails every request: its edge turns red, the frontend's
	// other calls stay healthy. loadgen → frontend may be of any health:
	// the share of requests the canary sends to v2 fails through to it.
	postControl(t, ctx, strings.TrimSuffix(urls.Control, "/status")+"/faults/reviews-v2", `{"errorRate": 1}`)
	want.Edges[0].Health, want.Edges[0].Stroke = "", ""
	want.Edges[2].Health, want.Edges[2].Stroke = "error", dashRed
	waitForTopology(t, tab, "frontend → reviews-v2 turns red", want, 60*time.Second)
	withError := browser.Screenshot(t, tab, artifacts, "demo-topology-error.png")

	openFrontendPage(t, tab)
	service := browser.Screenshot(t, tab, artifacts, "demo-service.png")

	if docs != "" {
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{withError: "dashboard-topology.png", service: "dashboard-service.png"} {
			copyFile(t, from, filepath.Join(docs, to))
		}
	}
	for _, m := range console.Take() {
		t.Errorf("browser console: %s", m)
	}
}

// openFrontendPage clicks the frontend in the graph and checks its page:
// its endpoint, charts, caller and calls.
func openFrontendPage(t *testing.T, tab context.Context) {
	t.Helper()
	center := browser.Run(t, tab, "locating frontend", chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
		const box = document.querySelector('g.node[data-node-id=%q] .node-box');
		box.scrollIntoView({block: 'center', inline: 'center'});
		const r = box.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`, dashFrontend)))
	browser.Run(t, tab, "clicking frontend", chromedp.MouseClickXY(center[0], center[1]))
	browser.Poll(t, tab, "the frontend's page shows its endpoint and charts", `location.hash === '#/service/east/shop/frontend' &&
		document.body.dataset.service === 'east/shop/frontend' &&
		document.querySelectorAll('[data-section=endpoints] tbody tr[data-healthy=true]').length === 1 &&
		document.querySelectorAll('[data-section=charts] path.chart-line').length === 4 &&
		document.querySelectorAll('[data-section=calls] tbody tr').length === 3`, 30*time.Second)
	page := browser.Run(t, tab, "reading the service page", chromedp.Evaluate[map[string]string](`Object.fromEntries(
		['endpoints', 'callers', 'calls', 'charts'].map(s => [s, document.querySelector('[data-section=' + s + ']').textContent]))`))
	for section, texts := range map[string][]string{
		"endpoints": {"frontend", "spiffe://east.example/ns/shop/sa/frontend", "healthy"},
		"callers":   {"loadgen"},
		"calls":     {"reviews-v1", "reviews-v2", "ratings", "west gateway"},
		"charts":    {"Requests per second", "Error rate", "Latency", "p99"},
	} {
		for _, text := range texts {
			if !strings.Contains(page[section], text) {
				t.Errorf("the frontend's %s section does not show %q; it shows %q", section, text, page[section])
			}
		}
	}
}

// startDemo runs the demo until the test ends, and returns its URLs once
// traffic flows. At the end it stops the demo and waits until every part
// of it has stopped.
func startDemo(t *testing.T, ctx context.Context) demo.URLs {
	t.Helper()
	o := demo.Options{
		BinDir: bin.dir,
		Dir:    t.TempDir(),
		Base:   16200 + os.Getpid()%40*20, // away from TestMakeDemo's and the developer's demo
		RPS:    dashRPS,
		Out:    &syncBuffer{},
	}
	if dir := os.Getenv("PLEXUS_PROMETHEUS_BIN"); dir != "" {
		o.Prometheus, o.Alertmanager = filepath.Join(dir, "prometheus"), filepath.Join(dir, "alertmanager")
	}
	demoCtx, stop := context.WithCancel(context.Background())
	ready := make(chan demo.URLs, 1)
	done := make(chan error, 1)
	go func() { done <- demo.Run(demoCtx, o, func(u demo.URLs) { ready <- u }) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the demo: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("the demo did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("the demo's output:\n%s", o.Out)
		}
	})
	select {
	case u := <-ready:
		t.Logf("the demo runs (ports from %d, Prometheus %q); east's dashboard: %s", o.Base, o.Prometheus, u.EastDashboard)
		return u
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("the demo did not start: %v", err)
	case <-ctx.Done():
		t.Fatalf("the demo did not start in time")
	}
	return demo.URLs{}
}

// waitForTopology waits until the page draws want, logging what still
// differs as it changes, and otherwise fails with it.
func waitForTopology(t *testing.T, tab context.Context, what string, want dashWant, timeout time.Duration) {
	t.Helper()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	problems := chromedp.Evaluate[[]string](fmt.Sprintf(dashProblemsJS, b))
	start := time.Now()
	var last []string
	for {
		left := browser.Run(t, tab, "reading the topology", problems)
		if len(left) == 0 {
			t.Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s; what differs:\n%s", what, timeout, strings.Join(left, "\n"))
		}
		if !slices.Equal(left, last) {
			t.Logf("%s: at %s, waiting for:\n\t%s", what, time.Since(start).Round(100*time.Millisecond), strings.Join(left, "\n\t"))
			last = left
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// postControl calls the demo's control API.
func postControl(t *testing.T, ctx context.Context, url, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, answer)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot for the documentation: %s", to)
}

// syncBuffer keeps what the demo writes, from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
