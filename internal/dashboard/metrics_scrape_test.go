package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// t0 is a time on a whole minute, so that series steps line up with it.
var t0 = time.Unix(1_800_000_000, 0)

// testClock is the scraper's clock in tests: it moves when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// targetList is a changing set of scrape targets.
type targetList struct {
	mu   sync.Mutex
	urls []string
}

func (l *targetList) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls...)
}

func (l *targetList) set(urls ...string) {
	l.mu.Lock()
	l.urls = urls
	l.mu.Unlock()
}

const scrapeEvery = 5 * time.Second

// newTestScraper returns a scraper of targets on a test clock at t0.
func newTestScraper(targets *targetList, opts ...ScraperOption) (*Scraper, *testClock) {
	clock := &testClock{now: t0}
	opts = append([]ScraperOption{ScraperClock(clock.Now), ScraperTimeout(5 * time.Second)}, opts...)
	return NewScraper(targets.get, scrapeEvery, opts...), clock
}

// rounds runs n rounds of: every proxy records its batch, the clock moves
// one interval, the scraper scrapes.
func rounds(s *Scraper, clock *testClock, n int, traffic func()) {
	for range n {
		traffic()
		clock.advance(scrapeEvery)
		s.Scrape(context.Background())
	}
}

var approx = cmpopts.EquateApprox(0, 1e-9)

func TestScraperSignals(t *testing.T) {
	frontend, checkout := newTestProxy(t), newTestProxy(t)
	s, clock := newTestScraper(&targetList{urls: []string{frontend.url(), checkout.url()}})
	// The first scrape finds no request series yet: the proxies create
	// them with the first request, so they count from zero.
	s.Scrape(context.Background())
	rounds(s, clock, 12, func() {
		frontend.record(append(frontendReviewsBatch(), append(frontendRatingsBatch(), inboundNoise())...)...)
		checkout.record(checkoutReviewsBatch()...)
	})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}

	want := []EdgeStats{
		withSignals(checkoutToReviews, Signals{RPS: 2, P50: 3.75, P99: 4.975}),
		withSignals(frontendToReviews, Signals{RPS: 10, ErrorRate: 0.16, P50: 4.0625, P99: 48.75}),
		withSignals(frontendToRatings, Signals{RPS: 1, P50: 193.75, P99: 60000}),
	}
	for _, window := range []time.Duration{time.Minute, 10 * time.Second} {
		got, err := s.Edges(context.Background(), window)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, approx); diff != "" {
			t.Errorf("Edges(%s) (-want +got):\n%s", window, diff)
		}
	}

	// Reviews' callers, summed: 60 requests every 5s, 8 failed; 50 fast
	// and 10 slow. The three points before the traffic are zero: they
	// have fewer than two samples.
	got, err := s.Series(context.Background(), reviewsService, 90*time.Second, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want9 := func(before, after float64) []float64 {
		return []float64{before, before, before, after, after, after, after, after, after}
	}
	wantSeries := &Series{
		Step:      Seconds(10 * time.Second),
		Times:     []int64{t0.Unix() - 20, t0.Unix() - 10, t0.Unix(), t0.Unix() + 10, t0.Unix() + 20, t0.Unix() + 30, t0.Unix() + 40, t0.Unix() + 50, t0.Unix() + 60},
		RPS:       want9(0, 12),
		ErrorRate: want9(0, 8.0/60),
		P50:       want9(0, 4),
		P99:       want9(0, 48.5),
	}
	if diff := cmp.Diff(wantSeries, got, approx); diff != "" {
		t.Errorf("Series (-want +got):\n%s", diff)
	}
}

func withSignals(e EdgeStats, s Signals) EdgeStats {
	e.Signals = s
	return e
}

func TestScraperCounterReset(t *testing.T) {
	proxy := newTestProxy(t)
	s, clock := newTestScraper(&targetList{urls: []string{proxy.url()}})
	batch := func(n int) func() {
		return func() {
			proxy.record(testRequest{edge: frontendToReviews, code: "200", latency: 3 * time.Millisecond, n: n})
		}
	}
	s.Scrape(context.Background())
	rounds(s, clock, 2, batch(100)) // 100, 200
	proxy.restart()
	rounds(s, clock, 2, batch(30)) // 30, 60: 230 and 260 in all

	for window, rps := range map[time.Duration]float64{
		20 * time.Second: 260.0 / 20, // the whole history
		10 * time.Second: 60.0 / 10,  // across the restart
		5 * time.Second:  30.0 / 5,   // after it
	} {
		got, err := s.Edges(context.Background(), window)
		if err != nil {
			t.Fatal(err)
		}
		want := []EdgeStats{withSignals(frontendToReviews, Signals{RPS: rps, P50: 3.75, P99: 4.975})}
		if diff := cmp.Diff(want, got, approx); diff != "" {
			t.Errorf("Edges(%s) (-want +got):\n%s", window, diff)
		}
	}
}

func TestScraperForgetsGoneTarget(t *testing.T) {
	frontend, checkout := newTestProxy(t), newTestProxy(t)
	targets := &targetList{urls: []string{frontend.url(), checkout.url()}}
	s, clock := newTestScraper(targets, ScraperHistory(30*time.Second))
	ctx := context.Background()
	traffic := func() {
		frontend.record(testRequest{edge: frontendToReviews, code: "200", latency: 3 * time.Millisecond, n: 10})
		checkout.record(checkoutReviewsBatch()...)
	}
	s.Scrape(ctx)
	rounds(s, clock, 2, traffic)
	callers := func(window time.Duration) []string {
		t.Helper()
		edges, err := s.Edges(ctx, window)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range edges {
			out = append(out, e.SourceWorkload)
		}
		return out
	}
	if got := callers(10 * time.Second); !cmp.Equal(got, []string{"checkout", "frontend"}) {
		t.Fatalf("callers %v, want checkout and frontend", got)
	}

	// Checkout's proxy stops answering: the scraper says so, and keeps
	// what it had.
	checkout.srv.Close()
	rounds(s, clock, 1, traffic)
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "1 of 2 proxies could not be scraped: scraping "+checkout.url()) {
		t.Errorf("Err() = %v, want checkout's proxy reported", err)
	}
	if got := callers(15 * time.Second); !cmp.Equal(got, []string{"checkout", "frontend"}) {
		t.Errorf("callers %v over the last 15s, want checkout's still", got)
	}

	// It leaves the mesh: no longer an error, and its edge leaves the
	// windows that its samples left.
	targets.set(frontend.url())
	rounds(s, clock, 2, traffic)
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v after the target left", err)
	}
	if got := callers(10 * time.Second); !cmp.Equal(got, []string{"frontend"}) {
		t.Errorf("callers %v over the last 10s, want frontend alone", got)
	}
	if _, kept := s.store.targets[checkout.url()]; !kept {
		t.Fatal("checkout's series were forgotten before the history passed")
	}

	// Once gone for longer than the history, it is forgotten.
	rounds(s, clock, 4, traffic)
	if _, kept := s.store.targets[checkout.url()]; kept {
		t.Error("checkout's series are kept after it has been gone for longer than the history")
	}
	if got := callers(time.Minute); !cmp.Equal(got, []string{"frontend"}) {
		t.Errorf("callers %v over the last minute, want frontend alone", got)
	}
	// 1 requests series and 17 buckets, with 6 samples each at most.
	if s.store.count != 18 {
		t.Errorf("%d series kept, want frontend's 18", s.store.count)
	}
	for _, sr := range s.store.targets[frontend.url()].series {
		if n := len(sr.samples); n > 7 {
			t.Errorf("a series keeps %d samples, more than 30s of them", n)
		}
	}
}

func TestScraperSeriesLimit(t *testing.T) {
	proxy := newTestProxy(t)
	var logs []string
	var logMu sync.Mutex
	log := funcr.New(func(_, args string) {
		logMu.Lock()
		logs = append(logs, args)
		logMu.Unlock()
	}, funcr.Options{})
	s, clock := newTestScraper(&targetList{urls: []string{proxy.url()}}, ScraperMaxSeries(20), ScraperLogger(log))
	// Two outcomes: 2 requests series and 2 x 17 buckets.
	traffic := func() {
		proxy.record(testRequest{edge: frontendToReviews, code: "200", latency: 3 * time.Millisecond, n: 10},
			testRequest{edge: frontendToReviews, code: "503", latency: 3 * time.Millisecond, n: 1})
	}
	traffic()
	s.Scrape(context.Background())
	rounds(s, clock, 2, traffic)
	if s.store.count != 20 {
		t.Errorf("%d series kept, want the limit of 20", s.store.count)
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "the series limit of 20 is reached: 16 series") {
		t.Errorf("Err() = %v, want the limit reported", err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(strings.Join(logs, "\n"), "Proxy metrics are incomplete"); n != 1 {
		t.Errorf("the limit was logged %d times, want once: %q", n, logs)
	}
}

func TestScraperTargetErrors(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	for name, tc := range map[string]struct {
		handler http.HandlerFunc
		url     string
		want    string
	}{
		"not found": {handler: http.NotFound, want: "HTTP 404 Not Found"},
		"not text": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("{}"))
			},
			want: `content type "application/json" is not the Prometheus text format`,
		},
		"malformed": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("plexus_requests_total{direction=\"outbound\" 1\n"))
			},
			want: "parsing the metrics",
		},
		"wrong type": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("# TYPE plexus_requests_total gauge\nplexus_requests_total{direction=\"outbound\"} 1\n"))
			},
			want: "plexus_requests_total is a GAUGE, not a counter",
		},
		"too slow": {
			handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			want:    "context deadline exceeded",
		},
		"refused": {url: refused.URL + "/metrics", want: "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			url := tc.url
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				url = srv.URL + "/metrics"
			}
			s := NewScraper(func() []string { return []string{url} }, time.Second, ScraperTimeout(200*time.Millisecond))
			s.Scrape(context.Background())
			err := s.Err()
			if err == nil || !strings.Contains(err.Error(), "scraping "+url+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Err() = %v, want it to name %s and say %q", err, url, tc.want)
			}
		})
	}
}

// TestScraperRunWithConcurrentReaders runs the scraper on the real clock
// while readers ask for signals; run with -race.
func TestScraperRunWithConcurrentReaders(t *testing.T) {
	proxy := newTestProxy(t)
	s := NewScraper(func() []string { return []string{proxy.url()} }, 20*time.Millisecond, ScraperTimeout(5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { s.Run(ctx) })
	wg.Go(func() {
		for ctx.Err() == nil {
			proxy.record(frontendReviewsBatch()...)
			time.Sleep(5 * time.Millisecond)
		}
	})
	// Readers ask while scrapes run (about ten of them at least).
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 200 {
				if _, err := s.Edges(ctx, time.Second); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Series(ctx, reviewsService, 10*time.Second, time.Second); err != nil {
					t.Error(err)
					return
				}
				_ = s.Err()
				time.Sleep(time.Millisecond)
			}
		})
	}
	readers.Wait()
	testenv.Eventually(t, "the scraper reports frontend's calls to reviews", func() error {
		edges, err := s.Edges(ctx, time.Second)
		if err != nil {
			return err
		}
		if len(edges) != 1 || edges[0].RPS <= 0 || edges[0].ErrorRate <= 0 || edges[0].P99 <= edges[0].P50 {
			return fmt.Errorf("edges %+v", edges)
		}
		return nil
	})
}
