package dashboard

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// testProxy serves a proxy's request metrics on a real socket from a real
// registry of the telemetry metrics, as the sidecar's admin server does.
type testProxy struct {
	srv *httptest.Server

	mu        sync.Mutex
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
}

func newTestProxy(t *testing.T) *testProxy {
	t.Helper()
	p := &testProxy{}
	p.restart()
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		reg := p.reg
		p.mu.Unlock()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// url is the proxy's metrics endpoint.
func (p *testProxy) url() string { return p.srv.URL + "/metrics" }

// restart loses every count, as a restarted proxy does.
func (p *testProxy) restart() {
	reg := prometheus.NewPedanticRegistry()
	requests, durations := telemetry.RequestsTotal.CounterVec(), telemetry.RequestDuration.HistogramVec()
	reg.MustRegister(requests, durations)
	p.mu.Lock()
	p.reg, p.requests, p.durations = reg, requests, durations
	p.mu.Unlock()
}

// testRequest is n requests of one edge with one outcome and latency.
type testRequest struct {
	direction string
	edge      EdgeStats // names only
	code      string
	grpc      string
	latency   time.Duration
	n         int
}

func (p *testProxy) record(reqs ...testRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range reqs {
		dir := r.direction
		if dir == "" {
			dir = telemetry.Outbound
		}
		l := prometheus.Labels{
			telemetry.LabelDirection:            dir,
			telemetry.LabelSourceWorkload:       r.edge.SourceWorkload,
			telemetry.LabelSourceNamespace:      r.edge.SourceNamespace,
			telemetry.LabelSourceCluster:        r.edge.SourceCluster,
			telemetry.LabelDestinationService:   r.edge.Service,
			telemetry.LabelDestinationNamespace: r.edge.Namespace,
			telemetry.LabelDestinationCluster:   r.edge.Cluster,
			telemetry.LabelResponseCode:         r.code,
			telemetry.LabelGRPCStatus:           r.grpc,
		}
		for range r.n {
			p.requests.With(l).Inc()
			p.durations.With(l).Observe(r.latency.Seconds())
		}
	}
}

// Edges of the tests.
var (
	frontendToReviews = EdgeStats{SourceWorkload: "frontend", SourceNamespace: "shop", SourceCluster: "east",
		Service: "reviews", Namespace: "shop", Cluster: "east"}
	checkoutToReviews = EdgeStats{SourceWorkload: "checkout", SourceNamespace: "shop", SourceCluster: "east",
		Service: "reviews", Namespace: "shop", Cluster: "east"}
	frontendToRatings = EdgeStats{SourceWorkload: "frontend", SourceNamespace: "shop", SourceCluster: "east",
		Service: "ratings", Namespace: "shop", Cluster: "west"}
	reviewsService = ServiceKey{Cluster: "east", Namespace: "shop", Name: "reviews"}
)

// frontendReviewsBatch is 50 requests from frontend to reviews: 40 fast
// successes, and 10 slow ones of which 8 failed (503s, gRPC UNAVAILABLE
// in a 200, both at once) and 2 did not (gRPC NOT_FOUND is the client's
// mistake). Error rate 0.16; p50 4.0625ms and p99 48.75ms by the
// interpolation of histogram_quantile over the 2.5-5ms and 25-50ms
// buckets.
func frontendReviewsBatch() []testRequest {
	slow := 30 * time.Millisecond
	return []testRequest{
		{edge: frontendToReviews, code: "200", latency: 3 * time.Millisecond, n: 40},
		{edge: frontendToReviews, code: "503", latency: slow, n: 4},
		{edge: frontendToReviews, code: "200", grpc: "14", latency: slow, n: 3},
		{edge: frontendToReviews, code: "503", grpc: "14", latency: slow, n: 1},
		{edge: frontendToReviews, code: "200", grpc: "5", latency: slow, n: 2},
	}
}

// inboundNoise is what reviews' own proxy saw of frontend's requests,
// which is not the edge's measure: the sources must ignore it.
func inboundNoise() testRequest {
	return testRequest{direction: telemetry.Inbound, edge: frontendToReviews, code: "500", latency: time.Second, n: 100}
}

// checkoutReviewsBatch is 10 fast successes from checkout to reviews.
func checkoutReviewsBatch() []testRequest {
	return []testRequest{{edge: checkoutToReviews, code: "200", latency: 3 * time.Millisecond, n: 10}}
}

// frontendRatingsBatch is 5 successes from frontend to ratings, one of
// them beyond the highest bucket: p50 193.75ms, p99 the highest bound.
func frontendRatingsBatch() []testRequest {
	return []testRequest{
		{edge: frontendToRatings, code: "200", grpc: "0", latency: 200 * time.Millisecond, n: 4},
		{edge: frontendToRatings, code: "200", grpc: "0", latency: 100 * time.Second, n: 1},
	}
}
