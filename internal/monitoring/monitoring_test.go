package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// The PodMonitor selects what the injector writes.
func TestPodMonitorMatchesInjectedPods(t *testing.T) {
	if LabelProxy != inject.LabelProxy || PortProxyStatus != inject.StatusPortName {
		t.Fatalf("PodMonitor selects label %s and port %s; the injector writes %s and %s", LabelProxy, PortProxyStatus, inject.LabelProxy, inject.StatusPortName)
	}
}

func TestFromMesh(t *testing.T) {
	mesh := &meshv1.Mesh{Spec: meshv1.MeshSpec{ClusterName: "east", TrustDomain: "east.example", Observability: &meshv1.Observability{
		ServiceMonitor: &meshv1.ServiceMonitorConfig{Interval: "10s"},
		PrometheusRule: &meshv1.PrometheusRuleConfig{SLO: &meshv1.SLO{Availability: "99.5", LatencyThreshold: "250ms", Latency: "95"}},
	}}}
	svc := func(name string, ann map[string]string) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: ann}}
	}
	o, err := FromMesh(mesh, "plexus-system", MetricsHTTP, []corev1.Service{
		svc("payments", map[string]string{AnnotationSLOAvailability: "99.99"}),
		svc("cart", map[string]string{AnnotationSLOLatency: "90"}),
		svc("search", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Cluster != "east" || o.ScrapeInterval != 10*time.Second || o.window() != time.Minute ||
		o.SLO != (SLO{Availability: 0.995, Latency: 0.95, LatencyThreshold: 250 * time.Millisecond}) ||
		o.CertificateTTL != 24*time.Hour || o.DashboardNamespace != "plexus-system" {
		t.Errorf("options %+v", o)
	}
	want := []ServiceSLO{{Namespace: "shop", Name: "cart", Latency: 0.9}, {Namespace: "shop", Name: "payments", Availability: 0.9999}}
	if len(o.Overrides) != 2 || o.Overrides[0] != want[0] || o.Overrides[1] != want[1] {
		t.Errorf("overrides %+v, want %+v", o.Overrides, want)
	}

	// A bad annotation is named, and the rest still works.
	_, err = FromMesh(mesh, "plexus-system", MetricsHTTP, []corev1.Service{svc("payments", map[string]string{AnnotationSLOAvailability: "100"})})
	if err == nil || !strings.Contains(err.Error(), "service shop/payments, annotation mesh.plexus.dev/slo-availability") {
		t.Errorf("error %v", err)
	}
	// A threshold between histogram buckets cannot be measured (a Mesh
	// stored before the API checked it): the default is used, and said.
	mesh.Spec.Observability.PrometheusRule.SLO.LatencyThreshold = "300ms"
	mesh.Spec.Observability.PrometheusRule.SLO.Availability = "lots"
	o, err = FromMesh(mesh, "ns", MetricsHTTP, nil)
	for _, want := range []string{"300ms is not one of the request duration histogram's bounds; use one of 1ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2500ms, 5s, 10s, 30s, 60s; using 500ms",
		`slo.availability: "lots" is not a percentage`, "using 99.9%"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if o.SLO.LatencyThreshold != 500*time.Millisecond || o.SLO.Availability != 0.999 {
		t.Errorf("SLO %+v, want the defaults in place of the bad values", o.SLO)
	}

	// Scrapes turned off: no control plane alert that could only fire.
	off := false
	mesh.Spec.Observability.ServiceMonitor.Enabled = &off
	if o, _ = FromMesh(mesh, "ns", MetricsHTTP, nil); o.ControlPlaneMetrics != MetricsOff {
		t.Errorf("ServiceMonitor off, metrics %v", o.ControlPlaneMetrics)
	}
	for _, r := range RuleGroups(o)[2].Rules {
		if r.Alert == AlertControlPlaneDown {
			t.Error("PlexusControlPlaneDown installed though nothing scrapes the control plane")
		}
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]float64{"99.9": 0.999, "50": 0.5, "99.9999": 0.999999, "99.99": 0.9999} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// 99.99999 would round to 100%: a zero budget that pages on any error.
	for _, in := range []string{"100", "49.9", "99.99999", "99.99995", "abc", "", "-5"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) accepted", in)
		}
	}
}

func TestSecureMetricsAreScrapedWithAToken(t *testing.T) {
	o := StaticOptions()
	o.ControlPlaneMetrics = MetricsHTTPS
	e := ServiceMonitor(o).Spec.Endpoints[0]
	if e.Scheme == nil || *e.Scheme != "HTTPS" || e.BearerTokenFile == "" || e.TLSConfig == nil { //nolint:staticcheck // checking what the operator writes
		t.Errorf("endpoint %+v: want HTTPS with the ServiceAccount token", e)
	}
	if e := ServiceMonitor(StaticOptions()).Spec.Endpoints[0]; e.Scheme != nil || e.BearerTokenFile != "" { //nolint:staticcheck // as above
		t.Errorf("plain endpoint %+v", e)
	}
}

func TestWindowFollowsTheScrapeInterval(t *testing.T) {
	for interval, want := range map[time.Duration]string{5 * time.Second: "1m", 30 * time.Second: "2m", time.Minute: "4m", 90 * time.Second: "6m"} {
		o := Options{ScrapeInterval: interval}
		if got := promDuration(o.window()); got != want {
			t.Errorf("scrape interval %s: window %s, want %s", interval, got, want)
		}
	}
}

func TestLeMatcherAcceptsBothFormats(t *testing.T) {
	for v, want := range map[float64]string{0.5: `le=~"0\\.5"`, 1: `le=~"1(\\.0)?"`, 0.0025: `le=~"0\\.0025"`, 60: `le=~"60(\\.0)?"`} {
		if got := leMatcher(v); got != want {
			t.Errorf("leMatcher(%g) = %s, want %s", v, got, want)
		}
	}
}

func TestEveryAlertIsComplete(t *testing.T) {
	o := StaticOptions()
	o.AlertLabels = map[string]string{"team": "platform", "severity": "mine"}
	seen := map[string]bool{}
	for _, r := range RuleGroups(o)[2].Rules {
		seen[r.Alert] = true
		if sev := r.Labels["severity"]; sev != SeverityCritical && sev != SeverityWarning {
			t.Errorf("%s: severity %q", r.Alert, sev)
		}
		if r.Labels["team"] != "platform" {
			t.Errorf("%s: alert labels from the Mesh missing: %v", r.Alert, r.Labels)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s", r.Alert, a)
			}
		}
		if want := DefaultRunbookURL + "/" + r.Alert + ".md"; r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook %s, want %s", r.Alert, r.Annotations["runbook_url"], want)
		}
	}
	for _, a := range Alerts() {
		if !seen[a] {
			t.Errorf("alert %s listed but not defined", a)
		}
	}
	if len(seen) != len(Alerts()) {
		t.Errorf("%d alerts defined, %d listed", len(seen), len(Alerts()))
	}
}

// Every panel filters by cluster, and every dashboard has the cluster
// variable.
func TestDashboardsFilterByCluster(t *testing.T) {
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 6 {
		t.Fatalf("%d dashboards, want 6 (overview, service, workload, topology, control plane, multi-cluster)", len(ds))
	}
	uids := map[string]bool{}
	for _, d := range ds {
		if uids[d.UID] {
			t.Errorf("uid %s twice", d.UID)
		}
		uids[d.UID] = true
		var model struct {
			Templating struct {
				List []struct {
					Name string `json:"name"`
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Type, Title string
				Targets     []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(d.JSON, &model); err != nil {
			t.Fatal(err)
		}
		vars := map[string]bool{}
		for _, v := range model.Templating.List {
			vars[v.Name] = true
		}
		if !vars["cluster"] || !vars["datasource"] {
			t.Errorf("%s: variables %v, want datasource and cluster", d.UID, vars)
		}
		panels := 0
		for _, p := range model.Panels {
			if p.Type == "row" {
				continue
			}
			panels++
			if len(p.Targets) == 0 {
				t.Errorf("%s/%s: no query", d.UID, p.Title)
			}
			for _, q := range p.Targets {
				if !strings.Contains(q.Expr, `cluster=~"$cluster"`) {
					t.Errorf("%s/%s: query does not filter by cluster: %s", d.UID, p.Title, q.Expr)
				}
				for _, v := range []string{"namespace", "service", "workload"} {
					if strings.Contains(q.Expr, "$"+v) && !vars[v] {
						t.Errorf("%s/%s: uses $%s, which the dashboard does not define", d.UID, p.Title, v)
					}
				}
			}
		}
		if panels < 3 {
			t.Errorf("%s: %d panels", d.UID, panels)
		}
	}
}

// The rules and dashboards name only metrics the proxy and the control
// plane publish (and Prometheus's own).
func TestQueriesNameKnownMetrics(t *testing.T) {
	known := map[string]bool{"up": true, "process_resident_memory_bytes": true, "process_cpu_seconds_total": true}
	for _, m := range append(telemetry.Proxies(), telemetry.ControlPlane()...) {
		known[m.Name] = true
		if m.Kind == telemetry.Histogram {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				known[m.Name+s] = true
			}
		}
	}
	var exprs []string
	for _, g := range RuleGroups(StaticOptions()) {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr.String())
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	for _, s := range sloWindows {
		known[SLOErrorRatio(s)], known[SLOSlowRatio(s)] = true, true
	}
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		qs, err := Queries(d.JSON)
		if err != nil {
			t.Fatal(err)
		}
		exprs = append(exprs, qs...)
	}
	for _, e := range exprs {
		for _, name := range metricNames(e) {
			if !known[name] {
				t.Errorf("query names %s, which nothing publishes or records: %s", name, e)
			}
		}
	}
}

// metricNames picks the names followed by a selector or range: a rough
// lexer, enough for the queries built here.
func metricNames(expr string) []string {
	var out []string
	isName := func(r byte) bool {
		return r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
	}
	for i := 0; i < len(expr); i++ {
		if expr[i] != '{' && expr[i] != '[' {
			continue
		}
		j := i
		for j > 0 && isName(expr[j-1]) {
			j--
		}
		if j < i && (strings.HasPrefix(expr[j:i], "plexus") || expr[j:i] == "up" || strings.HasPrefix(expr[j:i], "process_")) {
			out = append(out, expr[j:i])
		}
	}
	return out
}

// Every alert has a runbook page with the four sections its runbook_url
// promises, and no page is left for an alert that is gone.
func TestEveryAlertHasARunbook(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "runbooks")
	for _, a := range Alerts() {
		b, err := os.ReadFile(filepath.Join(dir, a+".md"))
		if err != nil {
			t.Errorf("alert %s: %v", a, err)
			continue
		}
		for _, h := range []string{"# " + a + "\n", "## Meaning", "## Impact", "## Diagnosis", "## Mitigation"} {
			if !strings.Contains(string(b), h) {
				t.Errorf("runbook %s.md lacks %q", a, strings.TrimSpace(h))
			}
		}
	}
	pages, err := filepath.Glob(filepath.Join(dir, "Plexus*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if name := strings.TrimSuffix(filepath.Base(p), ".md"); !slices.Contains(Alerts(), name) {
			t.Errorf("runbook %s has no alert", p)
		}
	}
}

// The API server accepts exactly the thresholds the rules can measure.
func TestCRDAcceptsTheHistogramThresholds(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "mesh.plexus.dev_meshes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, th := range LatencyThresholds(telemetry.RequestDuration.Buckets) {
		d, err := time.ParseDuration(th)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d.String())
	}
	var doc any
	if err := yaml.Unmarshal(crd, &doc); err != nil {
		t.Fatal(err)
	}
	var rule []byte
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["rule"].(string); ok && strings.Contains(r, ".exists(d, d == duration(self))") {
				rule = []byte(r)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if rule == nil {
		t.Fatal("no latencyThreshold rule in the Mesh CRD")
	}
	var got []string
	for _, m := range regexp.MustCompile(`duration\('([0-9a-z]+)'\)`).FindAllSubmatch(rule, -1) {
		d, err := time.ParseDuration(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.String())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the CRD accepts latencyThreshold %v; the histogram's usable bounds are %v", got, want)
	}
}
