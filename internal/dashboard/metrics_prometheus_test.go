package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// prometheusBinary finds prometheus: in PLEXUS_PROMETHEUS_BIN, which make
// test sets from hack/prometheus.sh, or on PATH.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PLEXUS_PROMETHEUS_BIN"); dir != "" {
		return filepath.Join(dir, "prometheus")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not found: run make test, which provides it through hack/prometheus.sh, or set PLEXUS_PROMETHEUS_BIN")
	}
	return bin
}

// startPrometheus runs a real Prometheus on 127.0.0.1 that scrapes the
// targets (host:port, path /metrics) every second, and returns its URL.
func startPrometheus(t *testing.T, bin string, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: proxies\n  static_configs:\n  - targets: ['%s']\n",
		strings.Join(targets, "', '"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.CommandContext(t.Context(), bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Wait() // t.Context() ends first, which kills it
		_ = logs.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("prometheus logs:\n%s", out)
		}
	})
	url := "http://" + addr
	testenv.Eventually(t, "Prometheus ready", func() error {
		code, body, err := testenv.Get(url + "/-/ready")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %s", code, body)
		}
		return err
	})
	return url
}

// steadyTraffic records the test batches ten times a second until ctx
// ends, catching up when the machine is busy so that the average rates
// hold: frontend calls reviews 500 times a second and ratings 50 times,
// checkout calls reviews 100 times.
func steadyTraffic(ctx context.Context, proxy *testProxy) {
	const perSecond = 10
	start, done := time.Now(), 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for due := int(time.Since(start).Seconds() * perSecond); done < due; done++ {
			proxy.record(append(append(frontendReviewsBatch(), frontendRatingsBatch()...), append(checkoutReviewsBatch(), inboundNoise())...)...)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// near tells whether got is within a relative tolerance of want.
func near(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*math.Abs(want)
}

// checkSignals compares signals with rates within 10% (Prometheus
// extrapolates, and a scrape can see part of a batch) and ratios and
// latencies within 2%.
func checkSignals(what string, got, want Signals) error {
	if !near(got.RPS, want.RPS, 0.10) || math.Abs(got.ErrorRate-want.ErrorRate) > 0.02*max(want.ErrorRate, 0.01) ||
		!near(got.P50, want.P50, 0.02) || !near(got.P99, want.P99, 0.02) {
		return fmt.Errorf("%s: signals %+v, want about %+v", what, got, want)
	}
	return nil
}

func TestPrometheusSignals(t *testing.T) {
	bin := prometheusBinary(t)
	proxy := newTestProxy(t)
	promURL := startPrometheus(t, bin, strings.TrimPrefix(proxy.srv.URL, "http://"))
	src := NewPrometheus(promURL+"/", nil)
	src.(*Prometheus).minWindow = 0 // this Prometheus scrapes every second: points over the step alone
	ctx := t.Context()

	// No traffic: no edges, and a service's series is zero.
	edges, err := src.Edges(ctx, 5*time.Second)
	if err != nil || len(edges) != 0 {
		t.Fatalf("Edges without traffic = %+v, %v; want none", edges, err)
	}
	series, err := src.Series(ctx, reviewsService, 10*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(series.Times) != 2 || time.Duration(series.Step) != 5*time.Second || series.RPS[1] != 0 || series.P99[1] != 0 {
		t.Fatalf("Series without traffic = %+v, want two zero points", series)
	}

	traffic, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { steadyTraffic(traffic, proxy) })
	defer wg.Wait()
	defer stop()

	want := map[string]Signals{
		"checkout -> reviews": {RPS: 100, P50: 3.75, P99: 4.975},
		"frontend -> reviews": {RPS: 500, ErrorRate: 0.16, P50: 4.0625, P99: 48.75},
		"frontend -> ratings": {RPS: 50, P50: 193.75, P99: 60000},
	}
	// Prometheus starts scraping a few seconds after it is ready (it
	// applies discovered targets every 5s).
	testenv.EventuallyWithin(t, 25*time.Second, "Edges from Prometheus", func() error {
		if edges, err = src.Edges(ctx, 5*time.Second); err != nil {
			return err
		}
		if len(edges) != len(want) {
			return fmt.Errorf("edges %+v, want %d", edges, len(want))
		}
		var errs []error
		for _, e := range edges {
			errs = append(errs, checkSignals(e.SourceWorkload+" -> "+e.Service, e.Signals, want[e.SourceWorkload+" -> "+e.Service]))
		}
		return errors.Join(errs...)
	})
	if edges[0].SourceCluster != "east" || edges[2].Cluster != "west" {
		t.Errorf("edges are not named or ordered as the metrics say: %+v", edges)
	}

	// Reviews' callers, summed: 600 requests a second, 80 failed, 500
	// fast and 100 slow.
	testenv.EventuallyWithin(t, 15*time.Second, "Series from Prometheus", func() error {
		s, err := src.Series(ctx, reviewsService, 10*time.Second, 5*time.Second)
		if err != nil {
			return err
		}
		last := len(s.Times) - 1
		if len(s.Times) != 2 || s.Times[last]%5 != 0 || time.Since(time.Unix(s.Times[last], 0)) > 6*time.Second {
			return fmt.Errorf("times %v, want the last two multiples of 5s", s.Times)
		}
		return checkSignals("reviews", Signals{RPS: s.RPS[last], ErrorRate: s.ErrorRate[last], P50: s.P50[last], P99: s.P99[last]},
			Signals{RPS: 600, ErrorRate: 80.0 / 600, P50: 4, P99: 48.5})
	})

	// Traffic stops: the edges stay, idle, with no latency (Prometheus
	// answers NaN).
	stop()
	testenv.EventuallyWithin(t, 15*time.Second, "idle edges from Prometheus", func() error {
		edges, err := src.Edges(ctx, 2*time.Second)
		if err != nil {
			return err
		}
		for _, e := range edges {
			if e.Signals != (Signals{}) {
				return fmt.Errorf("edge %+v is not idle", e)
			}
		}
		if len(edges) != len(want) {
			return fmt.Errorf("edges %+v, want %d idle ones", edges, len(want))
		}
		return nil
	})

	// Prometheus' own errors come back with the query.
	_, err = src.(*Prometheus).instantQuery(ctx, "sum(")
	if err == nil || !strings.Contains(err.Error(), "querying Prometheus at "+promURL+"/api/v1/query: bad_data: ") ||
		!strings.HasSuffix(err.Error(), "(query: sum()") {
		t.Errorf("error of a bad query: %v", err)
	}
}

// TestPrometheusErrors checks what a caller learns when Prometheus is not
// there, or something else answers.
func TestPrometheusErrors(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	notProm := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notProm.Close)
	for name, tc := range map[string]struct {
		url  string
		want []string
	}{
		"unreachable": {url: refused.URL, want: []string{"querying Prometheus at " + refused.URL + "/api/v1/query: ", "connection refused",
			"(query: sum by (source_workload, source_namespace, source_cluster, destination_service, destination_namespace, destination_cluster) (rate(plexus_requests_total{direction=\"outbound\"}[1m])))"}},
		"not Prometheus": {url: notProm.URL, want: []string{"querying Prometheus at " + notProm.URL + "/api/v1/query: ",
			`HTTP 404 and not an answer of the Prometheus API: "404 page not found"`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPrometheus(tc.url, nil).Edges(t.Context(), time.Minute)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to say %q", err, w)
				}
			}
		})
	}
	// Credentials in the URL never reach an error (they show in the UI).
	withPassword := strings.Replace(refused.URL, "http://", "http://reader:s3cret@", 1)
	if _, err := NewPrometheus(withPassword, nil).Edges(t.Context(), time.Minute); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "reader:xxxxx@") {
		t.Errorf("error with credentials in the URL: %v", err)
	}
	if _, err := NewPrometheus(notProm.URL, nil).Edges(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "at least 1s") {
		t.Errorf("error of a zero window: %v", err)
	}
}

func TestSignalQueries(t *testing.T) {
	q := newSignalQueries(nil, `direction="outbound",destination_service="reviews"`, "5s")
	for _, tc := range []struct{ got, want string }{
		{q.requests, `sum(rate(plexus_requests_total{direction="outbound",destination_service="reviews"}[5s]))`},
		{q.failed, `sum(rate(plexus_requests_total{direction="outbound",destination_service="reviews",response_code=~"5.."}[5s]) or ` +
			`rate(plexus_requests_total{direction="outbound",destination_service="reviews",response_code!~"5..",grpc_status=~"2|4|12|13|14|15"}[5s]))`},
		{q.p99, `histogram_quantile(0.99, sum by (le) (rate(plexus_request_duration_seconds_bucket{direction="outbound",destination_service="reviews"}[5s])))`},
	} {
		if tc.got != tc.want {
			t.Errorf("query\n%s\nwant\n%s", tc.got, tc.want)
		}
	}
}
