package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// Addresses in the lab's node namespace, where Prometheus, Alertmanager
// and the operator run and from where pods are reachable.
const (
	operatorMetrics = "127.0.0.1:15090"
	prometheusAddr  = "127.0.0.1:19090"
	alertmanager    = "127.0.0.1:19093"
)

// prometheusBins finds prometheus and alertmanager: in
// PLEXUS_PROMETHEUS_BIN, which make test sets from hack/prometheus.sh, or
// on PATH.
func prometheusBins(t *testing.T) (prom, am string) {
	t.Helper()
	if dir := os.Getenv("PLEXUS_PROMETHEUS_BIN"); dir != "" {
		return filepath.Join(dir, "prometheus"), filepath.Join(dir, "alertmanager")
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not found: run make test, which provides it through hack/prometheus.sh, or set PLEXUS_PROMETHEUS_BIN")
	}
	for _, name := range []string{"alertmanager", "prometheus-alertmanager"} {
		if am, err = exec.LookPath(name); err == nil {
			return prom, am
		}
	}
	t.Skip("alertmanager not found: run make test, which provides it through hack/prometheus.sh, or set PLEXUS_PROMETHEUS_BIN")
	return "", ""
}

// notification is what Alertmanager's webhook receiver gets.
type notification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// receiver collects Alertmanager's webhook notifications.
type receiver struct {
	mu  sync.Mutex
	got []notification
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var n notification
	if err := json.NewDecoder(req.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
}

// find returns the labels of an alert named name with status, if any
// notification carried one.
func (r *receiver) find(name, status string) (map[string]string, map[string]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.got {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == name && a.Status == status {
				return a.Labels, a.Annotations, true
			}
		}
	}
	return nil, nil, false
}

// TestAlertTravelsFromProxiesToAlertmanager runs the local mesh with a
// real Prometheus and Alertmanager configured from the generated
// ServiceMonitor, PodMonitor and PrometheusRule. Failing reviews
// instances make the error-rate alert fire and reach Alertmanager with the
// right labels, and resolve when they recover; every dashboard panel's
// query returns data.
func TestAlertTravelsFromProxiesToAlertmanager(t *testing.T) {
	promBin, amBin := prometheusBins(t)
	m := newMeshLab(t)
	_, rootFile, token := startLocal(t, m, operatorMetrics)
	startLocalPods(t, m, rootFile, token)

	// Steady traffic from the client to reviews.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		c := m.client.HTTPClient(t)
		for ctx.Err() == nil {
			_, _, _ = get(c, "http://10.96.0.10:8080/")
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// The test's own Alertmanager receiver, in the node namespace.
	recv := &receiver{}
	ln := m.lab.Node.Listen(t, "127.0.0.1:0")
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := filepath.Join(m.dir, "monitoring")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := monitoring.StaticOptions()
	o.Cluster, o.ScrapeInterval, o.RateWindow = "e2e", time.Second, 10*time.Second
	writeRules(t, filepath.Join(dir, "rules.yaml"), o)
	targets := []monitoring.Target{{Address: m.client.IP + fmt.Sprintf(":%d", statusPort), Namespace: "shop", Pod: "client"}}
	for i, pod := range m.reviews {
		targets = append(targets, monitoring.Target{Address: fmt.Sprintf("%s:%d", pod.IP, statusPort), Namespace: "shop", Pod: fmt.Sprintf("reviews-%d", i+1)})
	}
	promCfg, err := monitoring.PrometheusConfig(o, monitoring.PrometheusSetup{
		ControlPlanes: []monitoring.Target{{Address: operatorMetrics, Namespace: "plexus-system", Pod: "plexus-operator"}},
		Proxies:       targets,
		RuleFiles:     []string{filepath.Join(dir, "rules.yaml")},
		Alertmanagers: []string{alertmanager},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.file(t, "monitoring/prometheus.yml", promCfg)
	m.file(t, "monitoring/alertmanager.yml", []byte(fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, destination_service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: test
  webhook_configs:
  - url: http://%s/alerts
    send_resolved: true
`, ln.Addr())))
	startLogged(t, m, "alertmanager", amBin, "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "am-data"), "--web.listen-address="+alertmanager, "--cluster.listen-address=")
	startLogged(t, m, "prometheus", promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"), "--web.listen-address="+prometheusAddr)
	prom := &promClient{c: m.lab.Node.HTTPClient(t)}

	// Every target is scraped, and requests are counted on both sides with
	// the cluster.
	testenv.Eventually(t, "Prometheus scrapes the operator and the three proxies", func() error {
		return prom.expect(`count(up{job="plexus-proxy",cluster="e2e"} == 1) == 3 and count(up{job="plexus-control-plane",cluster="e2e"} == 1) == 1`)
	})
	for _, dir := range []string{"outbound", "inbound"} {
		q := fmt.Sprintf(`%s{direction=%q,cluster="e2e",destination_cluster="e2e",destination_namespace="shop",destination_service="reviews"} > 0`, monitoring.ServiceRequests, dir)
		testenv.Eventually(t, dir+" requests recorded", func() error {
			if err := prom.expect(q); err != nil {
				return fmt.Errorf("%w; recorded: %s", err, prom.raw(fmt.Sprintf(`%s{direction=%q}`, monitoring.ServiceRequests, dir)))
			}
			return nil
		})
	}

	// The reviews instances fail: the alert fires and reaches Alertmanager.
	m.failing.Store(true)
	var labels, annotations map[string]string
	testenv.EventuallyWithin(t, 2*time.Minute, "PlexusServiceHighErrorRate firing in Alertmanager", func() error {
		var ok bool
		if labels, annotations, ok = recv.find(monitoring.AlertServiceErrorRate, "firing"); !ok {
			return fmt.Errorf("not yet; alerts in Prometheus: %s", prom.raw("ALERTS"))
		}
		return nil
	})
	want := map[string]string{"severity": "warning", "cluster": "e2e", "direction": "outbound",
		"destination_cluster": "e2e", "destination_namespace": "shop", "destination_service": "reviews"}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("alert label %s=%q, want %q (labels %v)", k, labels[k], v, labels)
		}
	}
	if !strings.Contains(annotations["summary"], "reviews.shop in cluster e2e") || !strings.HasSuffix(annotations["runbook_url"], "/PlexusServiceHighErrorRate.md") {
		t.Errorf("annotations %v", annotations)
	}

	// They recover: the alert resolves.
	m.failing.Store(false)
	testenv.EventuallyWithin(t, 2*time.Minute, "PlexusServiceHighErrorRate resolved in Alertmanager", func() error {
		if _, _, ok := recv.find(monitoring.AlertServiceErrorRate, "resolved"); !ok {
			return fmt.Errorf("not yet; alerts in Prometheus: %s", prom.raw("ALERTS"))
		}
		return nil
	})

	// Every panel of every dashboard shows something.
	dashboards, err := monitoring.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer(`$cluster`, ".*", `$namespace`, ".*", `$service`, ".*", `$workload`, ".*", `$__rate_interval`, "30s")
	queries := map[string][]string{}
	for _, d := range dashboards {
		qs, err := monitoring.Queries(d.JSON)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			expr := vars.Replace(q)
			if _, _, err := prom.query(expr); err != nil {
				t.Errorf("%s: Prometheus refuses a panel query: %v", d.UID, err)
				continue
			}
			queries[d.UID] = append(queries[d.UID], expr)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for uid, qs := range queries {
		for _, expr := range qs {
			testenv.EventuallyWithin(t, time.Minute, uid+" panel query returns data", func() error { return prom.expect(expr) })
		}
	}
}

// writeRules writes the rule file, with every alert's "for" cut to 5s:
// the test shows the path from proxy to Alertmanager, and the promtool
// tests show the real durations.
func writeRules(t *testing.T, path string, o monitoring.Options) {
	t.Helper()
	groups := monitoring.RuleGroups(o)
	short := monitoringv1.Duration("5s")
	for i := range groups {
		for j := range groups[i].Rules {
			if groups[i].Rules[j].For != nil {
				groups[i].Rules[j].For = &short
			}
		}
	}
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startLogged starts a program in the node namespace, its output in
// name.log (shown when the test fails).
func startLogged(t *testing.T, m *meshLab, name, path string, args ...string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(m.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := exec.CommandContext(context.Background(), path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	m.lab.Node.Start(t, cmd, 0)
}

// promClient queries the Prometheus HTTP API.
type promClient struct{ c *http.Client }

// query runs an instant query and returns how many series it gave.
func (p *promClient) query(expr string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+prometheusAddr+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, "", err
	}
	if r.Status != "success" {
		return 0, "", fmt.Errorf("query %s: %s", expr, r.Error)
	}
	raw, _ := json.Marshal(r.Data.Result)
	return len(r.Data.Result), string(raw), nil
}

// expect fails unless expr returns at least one series.
func (p *promClient) expect(expr string) error {
	n, _, err := p.query(expr)
	if err == nil && n == 0 {
		err = fmt.Errorf("no data for %s", expr)
	}
	return err
}

func (p *promClient) raw(expr string) string {
	_, raw, err := p.query(expr)
	if err != nil {
		return err.Error()
	}
	return raw
}
