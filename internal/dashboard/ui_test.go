package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plexus-mesh/plexus/internal/dashboard/ui"
	"github.com/plexus-mesh/plexus/internal/testenv/browser"
)

// The browser test drives the embedded UI in Debian's Chromium against a
// fixture server that serves the assets as the dashboard does and canned
// answers for the API, and checks the hooks the UI promises: data-*
// attributes on nodes, edges and clusters, colours by health, live updates
// over Server-Sent Events and the service page.

const (
	uiLoadgen  = "workload:east/demo/loadgen"
	uiFrontend = "service:east/demo/frontend"
	uiReviews  = "service:east/demo/reviews"
	uiRatings  = "service:west/demo/ratings"
	uiGwEast   = "gateway:east"
	uiGwWest   = "gateway:west"

	// The colours of app.css (--error, --ok) as the browser computes them.
	uiRed   = "rgb(220, 38, 38)"
	uiGreen = "rgb(22, 163, 74)"
)

// uiWait is how long the page may take to show what the fixture serves.
const uiWait = 10 * time.Second

var uiStart = time.Date(2030, 5, 6, 7, 8, 0, 0, time.UTC)

func uiTopology() Topology {
	node := func(id, kind, cluster, ns, name, health string, ep, healthy int) Node {
		return Node{ID: id, Kind: kind, Cluster: cluster, Namespace: ns, Name: name, Health: health, Endpoints: ep, HealthyEndpoints: healthy}
	}
	loadgen := node(uiLoadgen, KindWorkload, "east", "demo", "loadgen", HealthOK, 0, 0)
	frontend := node(uiFrontend, KindService, "east", "demo", "frontend", HealthOK, 2, 2)
	frontend.MTLS = "STRICT"
	frontend.Signals = Signals{RPS: 12.34, ErrorRate: 0.002, P50: 12, P99: 45}
	reviews := node(uiReviews, KindService, "east", "demo", "reviews", HealthOK, 3, 2)
	reviews.MTLS, reviews.Exported = "STRICT", true
	reviews.Signals = Signals{RPS: 8.1, P50: 6.5, P99: 23}
	ratings := node(uiRatings, KindService, "west", "demo", "ratings", HealthError, 0, 0)
	ratings.MTLS, ratings.Imported = "STRICT", true
	ratings.Signals = Signals{RPS: 4.2, ErrorRate: 0.125, P50: 40, P99: 210}
	return Topology{
		Cluster: "east", TrustDomain: "east.plexus.local", Time: uiStart, Window: "1m", Source: "prometheus",
		Clusters: []Cluster{
			{Name: "east", TrustDomain: "east.plexus.local", Local: true, Connected: true, Gateway: uiGwEast, Gateways: []string{"10.0.0.10:15443"}},
			{Name: "west", TrustDomain: "west.plexus.local", Connected: true, Gateway: uiGwWest, Gateways: []string{"10.1.0.10:15443"}},
		},
		Nodes: []Node{
			loadgen, frontend, reviews, ratings,
			node(uiGwEast, KindGateway, "east", "plexus-system", "east-west", HealthIdle, 0, 0),
			node(uiGwWest, KindGateway, "west", "plexus-system", "east-west", HealthOK, 0, 0),
		},
		Edges: []Edge{
			{Source: uiLoadgen, Target: uiFrontend, Health: HealthOK, Signals: Signals{RPS: 12.34, ErrorRate: 0.002, P50: 12, P99: 45}},
			{Source: uiFrontend, Target: uiReviews, Health: HealthOK, Signals: Signals{RPS: 8.1, P50: 6.5, P99: 23}},
			{Source: uiFrontend, Target: uiRatings, Via: uiGwWest, Health: HealthError, Signals: Signals{RPS: 4.2, ErrorRate: 0.125, P50: 40, P99: 210}},
		},
	}
}

func uiReviewsDetail(topo Topology) ServiceDetail {
	var d ServiceDetail
	for _, n := range topo.Nodes {
		if n.ID == uiReviews {
			d.Node = n
		}
	}
	id := func(sa string) string { return "spiffe://east.plexus.local/ns/demo/sa/" + sa }
	d.Hostnames = []string{"reviews.demo.svc.cluster.local", "reviews.demo.svc.clusterset.local"}
	d.Addresses = []string{"10.96.0.21"}
	d.Ports = []Port{{Name: "http", Port: 9080, Protocol: "HTTP"}}
	d.Endpoints = []Endpoint{
		{Address: "10.244.1.7:9080", Cluster: "east", Workload: "reviews-v1", Identity: id("reviews"), Healthy: true},
		{Address: "10.244.2.9:9080", Cluster: "east", Workload: "reviews-v2", Identity: id("reviews"), Healthy: true},
		{Address: "10.244.3.4:9080", Cluster: "east", Workload: "reviews-v3", Identity: id("reviews")},
	}
	d.Routes = []RouteSummary{{Kind: "HTTPRoute", Namespace: "demo", Name: "reviews", Rules: []string{
		"path prefix /api/v2 → reviews-v2 100%",
		"any → reviews-v1 90%, reviews-v3 10%; timeout 2s; retries 2",
	}}}
	d.Policies = []PolicySummary{
		{Kind: "TrafficPolicy", Namespace: "demo", Name: "reviews", Summary: "least request; outlier detection after 5 consecutive 5xx"},
		{Kind: "AuthorizationPolicy", Namespace: "demo", Name: "reviews-allow", Summary: "allow " + id("frontend") + " GET /api/*"},
	}
	d.Identities = []string{id("reviews")}
	for _, e := range topo.Edges {
		if e.Target == uiReviews {
			d.Callers = append(d.Callers, e)
		}
	}
	s := &Series{Step: Seconds(30 * time.Second)}
	for i := range 31 {
		x := float64(i)
		s.Times = append(s.Times, uiStart.Add(time.Duration(i-30)*30*time.Second).Unix())
		s.RPS = append(s.RPS, 8+2*math.Sin(x/4))
		s.ErrorRate = append(s.ErrorRate, 0.004+0.003*math.Cos(x/3))
		s.P50 = append(s.P50, 6+math.Sin(x/5))
		s.P99 = append(s.P99, 23+8*math.Sin(x/6))
	}
	d.Series = s
	return d
}

// uiLargeTopology is three clusters and 17 nodes, for the layout checks.
func uiLargeTopology() Topology {
	t := Topology{Cluster: "east", TrustDomain: "east.plexus.local", Time: uiStart, Window: "1m", Source: "proxies",
		SourceError: "scraping 10.244.9.9:15090: connection refused"}
	for _, c := range []string{"east", "north", "west"} {
		t.Clusters = append(t.Clusters, Cluster{Name: c, TrustDomain: c + ".plexus.local", Local: c == "east", Connected: c != "north", Gateway: "gateway:" + c})
		t.Nodes = append(t.Nodes, Node{ID: "gateway:" + c, Kind: KindGateway, Cluster: c, Name: "east-west", Health: HealthOK})
	}
	t.Clusters[1].Error = "federation stream: connection reset by peer"
	svc := func(cluster, name, health string) string {
		id := fmt.Sprintf("service:%s/shop/%s", cluster, name)
		t.Nodes = append(t.Nodes, Node{ID: id, Kind: KindService, Cluster: cluster, Namespace: "shop", Name: name, Health: health,
			Endpoints: 2, HealthyEndpoints: 2, MTLS: "STRICT", Exported: name == "payments", Imported: cluster != "east"})
		return id
	}
	web := "workload:east/shop/web-client"
	t.Nodes = append(t.Nodes, Node{ID: web, Kind: KindWorkload, Cluster: "east", Namespace: "shop", Name: "web-client", Health: HealthOK})
	gw, cart, catalog, search := svc("east", "api-gateway", HealthOK), svc("east", "cart", HealthOK), svc("east", "catalog", HealthWarning), svc("east", "search", HealthOK)
	pay, users := svc("east", "payments", HealthOK), svc("east", "users", HealthIdle)
	inv, ship := svc("north", "inventory", HealthOK), svc("north", "shipping", HealthOK)
	recs, ml, fraud, ledger := svc("west", "recommendations", HealthOK), svc("west", "ml-scoring", HealthError), svc("west", "fraud-check", HealthOK), svc("west", "ledger", HealthOK)
	edge := func(src, dst, via, health string, rps, errRate, p99 float64) {
		t.Edges = append(t.Edges, Edge{Source: src, Target: dst, Via: via, Health: health, Signals: Signals{RPS: rps, ErrorRate: errRate, P50: p99 / 4, P99: p99}})
	}
	edge(web, gw, "", HealthOK, 120.4, 0.001, 38)
	edge(gw, cart, "", HealthOK, 40.2, 0, 22)
	edge(gw, catalog, "", HealthWarning, 61, 0.021, 95)
	edge(gw, search, "", HealthOK, 18.7, 0.003, 140)
	edge(cart, pay, "", HealthOK, 6.3, 0, 310)
	edge(catalog, inv, "gateway:north", HealthOK, 22.5, 0.004, 61)
	edge(search, recs, "gateway:west", HealthOK, 9.9, 0, 88)
	edge(recs, ml, "", HealthError, 9.9, 0.31, 1250)
	edge(pay, fraud, "gateway:west", HealthOK, 6.3, 0, 45)
	edge(fraud, ledger, "", HealthOK, 6.3, 0, 7.5)
	edge(inv, ship, "", HealthOK, 3.1, 0, 12)
	edge(ship, cart, "gateway:east", HealthIdle, 0, 0, 0)
	_ = users
	return t
}

// uiFixture serves the embedded UI and canned API answers. The topology
// can change; each change is pushed to the event streams at once.
type uiFixture struct {
	mu      sync.Mutex
	topo    Topology
	large   Topology
	detail  ServiceDetail
	changed chan struct{}
	done    chan struct{}
	spans   []string
}

func newUIFixture() *uiFixture {
	topo := uiTopology()
	return &uiFixture{topo: topo, large: uiLargeTopology(), detail: uiReviewsDetail(topo), changed: make(chan struct{}), done: make(chan struct{})}
}

func (f *uiFixture) handler() http.Handler {
	mux := http.NewServeMux()
	// The UI as the dashboard serves it (server.go), at the root and, to
	// check that the page uses relative URLs only, under /large/.
	assets := ui.Assets()
	static := http.FileServerFS(assets)
	mux.Handle("GET /static/", static)
	mux.Handle("GET /large/static/", http.StripPrefix("/large", static))
	index := func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, assets, "index.html") }
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /large/{$}", index)
	mux.HandleFunc("GET /api/topology", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		uiWriteJSON(w, f.topo)
	})
	mux.HandleFunc("GET /large/api/topology", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		uiWriteJSON(w, f.large)
	})
	mux.HandleFunc("GET /api/services/{cluster}/{namespace}/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.spans = append(f.spans, r.URL.Query().Get("span"))
		if r.PathValue("cluster") != f.detail.Cluster || r.PathValue("namespace") != f.detail.Namespace || r.PathValue("name") != f.detail.Name {
			http.Error(w, "no such service", http.StatusNotFound)
			return
		}
		uiWriteJSON(w, f.detail)
	})
	mux.HandleFunc("GET /api/events", f.events)
	// Under /large/ the stream is refused: the page must fall back to polling.
	mux.HandleFunc("GET /large/api/events", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		mux.ServeHTTP(w, r)
	})
}

func uiWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *uiFixture) events(w http.ResponseWriter, r *http.Request) {
	flusher := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	for {
		f.mu.Lock()
		b, err := json.Marshal(f.topo)
		changed := f.changed
		f.mu.Unlock()
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	}
}

// setEdgeHealth changes an edge's health, five seconds later.
func (f *uiFixture) setEdgeHealth(source, target, health string, errRate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.topo.Edges {
		if e := &f.topo.Edges[i]; e.Source == source && e.Target == target {
			e.Health, e.Signals.ErrorRate = health, errRate
		}
	}
	f.topo.Time = f.topo.Time.Add(5 * time.Second)
	close(f.changed)
	f.changed = make(chan struct{})
}

type uiElem struct {
	ID     string `json:"id,omitempty"`
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	Health string `json:"health"`
	Text   string `json:"text,omitempty"`
	// LabelHealth is the data-health of an edge's label.
	LabelHealth string `json:"labelHealth,omitempty"`
}

const uiNodesJS = `[...document.querySelectorAll('g.node')].map(n => ({id: n.dataset.nodeId, health: n.dataset.health}))
	.sort((a, b) => a.id < b.id ? -1 : 1)`

// uiEdgesJS lists the edges with the text and health of their labels,
// which are apart from the edges, in the label layer, and found by source
// and target.
const uiEdgesJS = `[...document.querySelectorAll('g.edge')].map(e => {
	const labels = [...document.querySelectorAll('g.edge-label')]
		.filter(l => l.dataset.source === e.dataset.source && l.dataset.target === e.dataset.target);
	const one = labels.length === 1 ? labels[0] : null;
	return {source: e.dataset.source, target: e.dataset.target, health: e.dataset.health,
		text: one ? one.querySelector('text').textContent : labels.length + ' labels',
		labelHealth: one ? one.dataset.health : ''};
})`

// uiLabelsOverLinesJS lists the edge labels that an edge line may paint
// over: a label must come after every edge's paths in document order (the
// order SVG paints in), outside the edges' groups, and no edge path may be
// over it where the browser hit-tests the label's box (at the points of
// the box within the graph's visible part).
const uiLabelsOverLinesJS = `(() => {
	const out = [];
	const paths = [...document.querySelectorAll('g.edge path')];
	const last = paths[paths.length - 1];
	const labels = [...document.querySelectorAll('g.edge-label')];
	if (!paths.length || !labels.length) return ['no edge paths or no edge labels'];
	for (const l of labels) {
		const name = 'label of ' + l.dataset.source + ' > ' + l.dataset.target;
		if (l.closest('g.edge')) out.push(name + ' is inside an edge');
		if (!(l.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_PRECEDING)) out.push(name + ' is painted before an edge path');
		const box = l.querySelector('rect').getBoundingClientRect();
		const view = l.closest('svg').parentElement.getBoundingClientRect();
		const over = new Set();
		let visible = 0, hit = 0;
		for (let i = 1; i < 10; i++) for (let j = 1; j < 5; j++) {
			const x = box.left + box.width * i / 10, y = box.top + box.height * j / 5;
			if (x < Math.max(0, view.left) || x > Math.min(innerWidth, view.right) || y < Math.max(0, view.top) || y > Math.min(innerHeight, view.bottom)) continue;
			visible++;
			const stack = document.elementsFromPoint(x, y);
			const at = stack.findIndex(el => l.contains(el));
			if (at < 0) continue;
			hit++;
			for (const el of stack.slice(0, at)) {
				const e = el.closest('g.edge');
				if (e) over.add(e.dataset.source + ' > ' + e.dataset.target);
			}
		}
		if (visible && !hit) out.push(name + ' is hidden');
		for (const e of over) out.push('edge ' + e + ' lies over the ' + name);
	}
	return out;
})()`

// uiOverlapsJS lists the node boxes, gateway labels and edge labels that
// overlap one another.
const uiOverlapsJS = `(() => {
	const boxes = [];
	const add = (what, el) => { if (el) boxes.push({what, r: el.getBoundingClientRect()}); };
	for (const n of document.querySelectorAll('g.node')) {
		add('node ' + n.dataset.nodeId, n.querySelector('.node-box'));
		add('label of ' + n.dataset.nodeId, n.querySelector('.gw-label'));
	}
	for (const l of document.querySelectorAll('g.edge-label')) add('label of ' + l.dataset.source + ' > ' + l.dataset.target, l.querySelector('rect'));
	const out = [];
	for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
		const a = boxes[i].r, b = boxes[j].r;
		if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) out.push(boxes[i].what + ' / ' + boxes[j].what);
	}
	return out;
})()`

func uiStroke(source, target string) string {
	return fmt.Sprintf(`getComputedStyle(document.querySelector('g.edge[data-source=%q][data-target=%q] path.edge-line')).stroke`, source, target)
}

// uiLabelFill is the colour of the text of an edge's label.
func uiLabelFill(source, target string) string {
	return fmt.Sprintf(`getComputedStyle(document.querySelector('g.edge-label[data-source=%q][data-target=%q] text')).fill`, source, target)
}

// uiMouseMove moves the mouse pointer to x, y.
func uiMouseMove(x, y float64) chromedp.Action[chromedp.Void] {
	return chromedp.MouseEvent(chromedp.MouseMoved, x, y)
}

// uiCenter is the centre, in the viewport, of the element selector names.
func uiCenter(t *testing.T, tab context.Context, selector string) (x, y float64) {
	t.Helper()
	c := browser.Run(t, tab, "locating "+selector, chromedp.Evaluate[[]float64](fmt.Sprintf(
		`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, selector)))
	if len(c) != 2 {
		t.Fatalf("locating %s: got %v", selector, c)
	}
	return c[0], c[1]
}

func TestUIBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	artifacts := browser.Artifacts(t)

	fx := newUIFixture()
	srv := httptest.NewServer(fx.handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(fx.done) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	tab, console := browser.Start(t, ctx)
	browser.Run(t, tab, "opening the dashboard", chromedp.Navigate(srv.URL+"/"))

	want := fx.topo
	stamp := func(tm time.Time) string { return tm.Format(time.RFC3339Nano) }
	browser.Poll(t, tab, "the topology is drawn", fmt.Sprintf(`document.body.dataset.updated === %q`, stamp(want.Time)), uiWait)

	// Every node and edge, with its health and label.
	nodes := browser.Run(t, tab, "reading nodes", chromedp.Evaluate[[]uiElem](uiNodesJS))
	var wantNodes []uiElem
	for _, n := range want.Nodes {
		wantNodes = append(wantNodes, uiElem{ID: n.ID, Health: n.Health})
	}
	less := func(a, b uiElem) bool { return a.ID+a.Source+a.Target < b.ID+b.Source+b.Target }
	if diff := cmp.Diff(wantNodes, nodes, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	edges := browser.Run(t, tab, "reading edges", chromedp.Evaluate[[]uiElem](uiEdgesJS))
	wantEdges := []uiElem{
		{Source: uiLoadgen, Target: uiFrontend, Health: HealthOK, Text: "12.3 rps · 0.2% · p99 45ms", LabelHealth: HealthOK},
		{Source: uiFrontend, Target: uiReviews, Health: HealthOK, Text: "8.1 rps · 0.0% · p99 23ms", LabelHealth: HealthOK},
		{Source: uiFrontend, Target: uiRatings, Health: HealthError, Text: "4.2 rps · 12.5% · p99 210ms", LabelHealth: HealthError},
	}
	if diff := cmp.Diff(wantEdges, edges, cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	clusters := browser.Run(t, tab, "reading clusters", chromedp.Evaluate[[]string](`[...document.querySelectorAll('g.cluster')].map(c => c.dataset.cluster)`))
	if diff := cmp.Diff([]string{"east", "west"}, clusters); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if got := browser.Run(t, tab, "reading the error edge's colour", chromedp.Evaluate[string](uiStroke(uiFrontend, uiRatings))); got != uiRed {
		t.Errorf("frontend → ratings (error) is drawn in %s, want red %s", got, uiRed)
	}
	if got := browser.Run(t, tab, "reading an ok edge's colour", chromedp.Evaluate[string](uiStroke(uiFrontend, uiReviews))); got != uiGreen {
		t.Errorf("frontend → reviews (ok) is drawn in %s, want green %s", got, uiGreen)
	}
	if got := browser.Run(t, tab, "reading the error edge's label colour", chromedp.Evaluate[string](uiLabelFill(uiFrontend, uiRatings))); got != uiRed {
		t.Errorf("the label of frontend → ratings (error) is written in %s, want red %s", got, uiRed)
	}
	header := browser.Run(t, tab, "reading the header", chromedp.Evaluate[[]string](
		`['hdr-cluster', 'hdr-source', 'conn'].map(id => document.getElementById(id).textContent)`))
	if diff := cmp.Diff([]string{"east", "prometheus", "live"}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if rows := browser.Run(t, tab, "reading the edge list", chromedp.Evaluate[int](`document.querySelectorAll('[data-section=edges] tbody tr').length`)); rows != len(want.Edges) {
		t.Errorf("the edge list has %d rows, want %d", rows, len(want.Edges))
	}
	if overlaps := browser.Run(t, tab, "checking overlaps", chromedp.Evaluate[[]string](uiOverlapsJS)); len(overlaps) > 0 {
		t.Errorf("overlapping elements:\n%s", strings.Join(overlaps, "\n"))
	}
	if covered := browser.Run(t, tab, "checking that labels are over lines", chromedp.Evaluate[[]string](uiLabelsOverLinesJS)); len(covered) > 0 {
		t.Errorf("edge labels under edge lines:\n%s", strings.Join(covered, "\n"))
	}
	browser.Screenshot(t, tab, artifacts, "dashboard-topology.png")

	// Hovering a node highlights its edges with their labels and dims the
	// others; hovering a label marks its edge.
	browser.Run(t, tab, "hovering reviews", uiMouseMove(uiCenter(t, tab, fmt.Sprintf("g.node[data-node-id=%q] .node-box", uiReviews))))
	browser.Poll(t, tab, "reviews is highlighted", `document.querySelector('svg.topology').classList.contains('focused')`, uiWait)
	opacity := browser.Run(t, tab, "reading the opacities", chromedp.Evaluate[map[string][]string](`Object.fromEntries(
		[...document.querySelectorAll('g.edge')].map(e => [e.dataset.source + ' > ' + e.dataset.target, [getComputedStyle(e).opacity,
			getComputedStyle(document.querySelector('g.edge-label[data-source="' + e.dataset.source + '"][data-target="' + e.dataset.target + '"]')).opacity]]))`))
	if diff := cmp.Diff(map[string][]string{
		uiLoadgen + " > " + uiFrontend: {"0.25", "0.25"},
		uiFrontend + " > " + uiReviews: {"1", "1"},
		uiFrontend + " > " + uiRatings: {"0.25", "0.25"},
	}, opacity); diff != "" {
		t.Errorf("opacity of [edge, label] with reviews under the pointer (-want +got):\n%s", diff)
	}
	labelSel := fmt.Sprintf("g.edge-label[data-source=%q][data-target=%q]", uiFrontend, uiRatings)
	browser.Run(t, tab, "hovering a label", uiMouseMove(uiCenter(t, tab, labelSel+" rect")))
	browser.Poll(t, tab, "the label's edge is marked", fmt.Sprintf(`!document.querySelector('svg.topology').classList.contains('focused') &&
		[...document.querySelectorAll('g.edge.hover, g.edge-label.hover')].map(e => e.dataset.source + ' > ' + e.dataset.target).join() === %q &&
		getComputedStyle(document.querySelector('g.edge.hover path.edge-line')).strokeOpacity === '1'`,
		uiFrontend+" > "+uiRatings+","+uiFrontend+" > "+uiRatings), uiWait)
	browser.Run(t, tab, "moving the pointer away", uiMouseMove(1, 1))
	browser.Poll(t, tab, "nothing is marked", `!document.querySelector('svg.topology.focused, g.hover')`, uiWait)

	// A live update turns an edge red without reloading the page.
	browser.Run(t, tab, "marking the page", chromedp.Evaluate[chromedp.Void](`window.plexusNoReload = true`))
	fx.setEdgeHealth(uiFrontend, uiReviews, HealthError, 0.2)
	browser.Poll(t, tab, "the update is drawn", fmt.Sprintf(`document.body.dataset.updated === %q`, stamp(want.Time.Add(5*time.Second))), uiWait)
	browser.Poll(t, tab, "frontend → reviews turns red", fmt.Sprintf(
		`document.querySelector('g.edge[data-source=%q][data-target=%q]').dataset.health === 'error' && %s === %q && %s === %q && window.plexusNoReload === true`,
		uiFrontend, uiReviews, uiStroke(uiFrontend, uiReviews), uiRed, uiLabelFill(uiFrontend, uiReviews), uiRed), uiWait)

	// The reviews node opens its page.
	browser.Run(t, tab, "clicking reviews", chromedp.MouseClickXY(uiCenter(t, tab, fmt.Sprintf("g.node[data-node-id=%q] .node-box", uiReviews))))
	browser.Poll(t, tab, "the service page is drawn", `location.hash === '#/service/east/demo/reviews' &&
		document.querySelectorAll('[data-section=endpoints] tbody tr').length === 3 &&
		document.querySelectorAll('[data-section=routes] tbody tr').length === 1 &&
		document.querySelectorAll('[data-section=policies] tbody tr').length === 2 &&
		document.querySelectorAll('[data-section=charts] path.chart-line').length === 4`, uiWait)
	page := browser.Run(t, tab, "reading the service page", chromedp.Evaluate[map[string]string](`Object.fromEntries(
		['endpoints', 'routes', 'policies', 'callers', 'calls', 'charts'].map(s => [s, document.querySelector('[data-section=' + s + ']').textContent]))`))
	for section, texts := range map[string][]string{
		"endpoints": {"10.244.1.7:9080", "reviews-v3", "spiffe://east.plexus.local/ns/demo/sa/reviews", "unhealthy"},
		"routes":    {"HTTPRoute", "demo/reviews", "any → reviews-v1 90%, reviews-v3 10%; timeout 2s; retries 2"},
		"policies":  {"TrafficPolicy", "AuthorizationPolicy", "least request"},
		"callers":   {"frontend", "8.1"},
		"calls":     {"calls no other service"},
		"charts":    {"Requests per second", "Error rate", "Latency", "p99"},
	} {
		for _, text := range texts {
			if !strings.Contains(page[section], text) {
				t.Errorf("section %s does not show %q; it shows %q", section, text, page[section])
			}
		}
	}
	fx.mu.Lock()
	spans := fx.spans
	fx.mu.Unlock()
	if len(spans) == 0 || spans[0] != "15m" {
		t.Errorf("the service page asked for spans %q, want 15m", spans)
	}
	browser.Screenshot(t, tab, artifacts, "dashboard-service.png")

	// Back to the graph.
	browser.Run(t, tab, "going back", chromedp.Evaluate[chromedp.Void](`document.querySelector('a.back').click()`))
	browser.Poll(t, tab, "the topology is back", `location.hash === '#/' && document.querySelectorAll('g.node').length === 6`, uiWait)

	// A bigger mesh, under a path prefix, without a live stream: every node
	// drawn, nothing overlapping, and the page polls.
	if msgs := console.Take(); len(msgs) > 0 {
		t.Errorf("browser console:\n%s", strings.Join(msgs, "\n"))
	}
	large := fx.large
	browser.Run(t, tab, "opening the larger mesh", chromedp.Navigate(srv.URL+"/large/"))
	browser.Poll(t, tab, "the larger mesh is drawn", fmt.Sprintf(
		`document.body.dataset.updated === %q && document.getElementById('conn').dataset.state === 'reconnecting'`, stamp(large.Time)), uiWait)
	if n := browser.Run(t, tab, "counting nodes", chromedp.Evaluate[int](`document.querySelectorAll('g.node').length`)); n != len(large.Nodes) {
		t.Errorf("%d nodes drawn, want %d", n, len(large.Nodes))
	}
	if n := browser.Run(t, tab, "counting edges", chromedp.Evaluate[int](`document.querySelectorAll('g.edge').length`)); n != len(large.Edges) {
		t.Errorf("%d edges drawn, want %d", n, len(large.Edges))
	}
	if overlaps := browser.Run(t, tab, "checking overlaps", chromedp.Evaluate[[]string](uiOverlapsJS)); len(overlaps) > 0 {
		t.Errorf("overlapping elements in the larger mesh:\n%s", strings.Join(overlaps, "\n"))
	}
	if covered := browser.Run(t, tab, "checking that labels are over lines", chromedp.Evaluate[[]string](uiLabelsOverLinesJS)); len(covered) > 0 {
		t.Errorf("edge labels under edge lines in the larger mesh:\n%s", strings.Join(covered, "\n"))
	}
	browser.Screenshot(t, tab, artifacts, "dashboard-topology-large.png")
	// Without a stream the page polls (every 5s).
	fx.mu.Lock()
	fx.large.Time = fx.large.Time.Add(5 * time.Second)
	fx.large.Edges[0].Health = HealthError
	polled := stamp(fx.large.Time)
	fx.mu.Unlock()
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.body.dataset.updated === %q`, polled),
		chromedp.WithPollingTimeout(8*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Errorf("the page did not poll the topology while the stream was down: %v", err)
	}
	// The whole graph at its natural size, on a wide screen.
	browser.Run(t, tab, "widening the window", chromedp.EmulateViewport(2560, 900))
	// Every label in sight now.
	if covered := browser.Run(t, tab, "checking that labels are over lines", chromedp.Evaluate[[]string](uiLabelsOverLinesJS)); len(covered) > 0 {
		t.Errorf("edge labels under edge lines in the larger mesh, on a wide screen:\n%s", strings.Join(covered, "\n"))
	}
	browser.Screenshot(t, tab, artifacts, "dashboard-topology-large-wide.png")
	// The refused stream is logged by the browser as an error: expected here.
	for _, m := range console.Take() {
		if !strings.Contains(m, "/large/api/events") && !strings.Contains(m, "EventSource") {
			t.Errorf("browser console: %s", m)
		} else {
			t.Logf("browser console, as expected: %s", m)
		}
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the browser test ran out of time")
	}
}
