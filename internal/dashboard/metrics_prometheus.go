package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Prometheus reads the signals from a Prometheus server that scrapes the
// proxies, with PromQL over its HTTP API. It owns nothing but the address
// and the client: every call queries Prometheus afresh.
type Prometheus struct {
	baseURL string
	client  *http.Client
	// minWindow is the shortest window a Series point's rate is over.
	minWindow time.Duration
}

var _ Metrics = (*Prometheus)(nil)

// defaultPrometheusTimeout bounds a query when the caller's client has no
// timeout of its own; a context deadline applies too.
const defaultPrometheusTimeout = 30 * time.Second

// NewPrometheus returns the source that queries the Prometheus at baseURL
// ("http://prometheus.monitoring:9090", with any path prefix it is served
// under). A nil client means one with a 30s timeout.
func NewPrometheus(baseURL string, client *http.Client) Metrics {
	if client == nil {
		client = &http.Client{Timeout: defaultPrometheusTimeout}
	}
	return &Prometheus{baseURL: strings.TrimRight(baseURL, "/"), client: client, minWindow: minSeriesWindow}
}

// Name is "prometheus".
func (p *Prometheus) Name() string { return "prometheus" }

// Edges are every edge's signals over the last window, as the callers'
// proxies measured them. An edge without requests in the window has zero
// signals, or is absent once its series are gone from the window.
func (p *Prometheus) Edges(ctx context.Context, window time.Duration) ([]EdgeStats, error) {
	if err := checkSignalWindow(window); err != nil {
		return nil, err
	}
	q := newSignalQueries(edgeLabels, outboundMatcher(), promDuration(window))
	vectors, err := queryAll(q.all(), func(query string) (model.Vector, error) { return p.instantQuery(ctx, query) })
	if err != nil {
		return nil, err
	}
	total, failed, p50, p99 := vectorByEdge(vectors[0]), vectorByEdge(vectors[1]), vectorByEdge(vectors[2]), vectorByEdge(vectors[3])
	edges := make([]EdgeStats, 0, len(total))
	for k, rps := range total {
		edges = append(edges, k.stats(Signals{
			RPS:       nonNegativeRate(rps),
			ErrorRate: errorRatio(nonNegativeRate(failed[k]), nonNegativeRate(rps)),
			P50:       latencyMillis(p50[k]),
			P99:       latencyMillis(p99[k]),
		}))
	}
	sortEdgeStats(edges)
	return edges, nil
}

// minSeriesWindow is the shortest window a Series point's rate is over by
// default: it must hold two scrapes, and scrape intervals run to 30s.
const minSeriesWindow = time.Minute

// Series are the signals of the requests svc received from all its
// callers over the last span, each point a rate over the step before it,
// or over minWindow when the step is shorter.
func (p *Prometheus) Series(ctx context.Context, svc ServiceKey, span, step time.Duration) (*Series, error) {
	times, err := seriesGrid(time.Now(), span, step)
	if err != nil {
		return nil, err
	}
	matchers := strings.Join([]string{
		outboundMatcher(),
		promMatcher(telemetry.LabelDestinationService, svc.Name),
		promMatcher(telemetry.LabelDestinationNamespace, svc.Namespace),
		promMatcher(telemetry.LabelDestinationCluster, svc.Cluster),
	}, ",")
	// Each point is a rate over at least a minute, whatever the step: a
	// window must hold two scrapes, and scrape intervals run to 30s.
	q := newSignalQueries(nil, matchers, promDuration(max(step, p.minWindow)))
	start, end := times[0], times[len(times)-1]
	matrices, err := queryAll(q.all(), func(query string) (model.Matrix, error) {
		return p.rangeQuery(ctx, query, start, end, step)
	})
	if err != nil {
		return nil, err
	}
	s := newZeroSeries(step, times)
	at := func(m model.Matrix, fill func(i int, v float64)) {
		for _, ss := range m {
			for _, pt := range ss.Values {
				i := int(math.Round(float64(pt.Timestamp.Time().Sub(start)) / float64(step)))
				if i >= 0 && i < len(times) {
					fill(i, float64(pt.Value))
				}
			}
		}
	}
	failed := make([]float64, len(times))
	at(matrices[0], func(i int, v float64) { s.RPS[i] = nonNegativeRate(v) })
	at(matrices[1], func(i int, v float64) { failed[i] = nonNegativeRate(v) })
	at(matrices[2], func(i int, v float64) { s.P50[i] = latencyMillis(v) })
	at(matrices[3], func(i int, v float64) { s.P99[i] = latencyMillis(v) })
	for i := range times {
		s.ErrorRate[i] = errorRatio(failed[i], s.RPS[i])
	}
	return s, nil
}

// signalQueries are the PromQL of the four signals, summed by some labels.
type signalQueries struct {
	requests, failed, p50, p99 string
}

// newSignalQueries writes the queries over window w of the requests that
// matchers select, summed by labels (over everything when empty).
func newSignalQueries(labels []string, matchers, w string) signalQueries {
	requests := telemetry.RequestsTotal.Name
	rate := func(metric string, more ...string) string {
		return fmt.Sprintf("rate(%s{%s}[%s])", metric, strings.Join(append([]string{matchers}, more...), ","), w)
	}
	// The error selectors are disjoint (5xx, and not 5xx with a gRPC
	// error), so "or" keeps every failed series of either.
	failed := rate(requests, monitoring.ErrorSelectors[0]) + " or " + rate(requests, monitoring.ErrorSelectors[1])
	buckets := rate(telemetry.RequestDuration.Name + "_bucket")
	byLe := append(append([]string(nil), labels...), model.BucketLabel)
	return signalQueries{
		requests: promSum(labels, rate(requests)),
		failed:   promSum(labels, failed),
		p50:      fmt.Sprintf("histogram_quantile(%g, %s)", quantileP50, promSum(byLe, buckets)),
		p99:      fmt.Sprintf("histogram_quantile(%g, %s)", quantileP99, promSum(byLe, buckets)),
	}
}

func (q signalQueries) all() []string { return []string{q.requests, q.failed, q.p50, q.p99} }

func promSum(labels []string, expr string) string {
	if len(labels) == 0 {
		return fmt.Sprintf("sum(%s)", expr)
	}
	return fmt.Sprintf("sum by (%s) (%s)", strings.Join(labels, ", "), expr)
}

func promMatcher(label, value string) string { return fmt.Sprintf("%s=%q", label, value) }

// outboundMatcher selects what callers' proxies measured, which includes
// the requests that never reached the service.
func outboundMatcher() string { return promMatcher(telemetry.LabelDirection, telemetry.Outbound) }

// vectorByEdge indexes a vector summed by edgeLabels.
func vectorByEdge(v model.Vector) map[edgeKey]float64 {
	out := make(map[edgeKey]float64, len(v))
	for _, s := range v {
		out[edgeKeyOf(func(name string) string { return string(s.Metric[model.LabelName(name)]) })] = float64(s.Value)
	}
	return out
}

// queryAll runs do for every query at once and returns the results in
// order, or the first error.
func queryAll[T any](queries []string, do func(query string) (T, error)) ([]T, error) {
	results := make([]T, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Go(func() { results[i], errs[i] = do(q) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}
