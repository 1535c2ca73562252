package dashboard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of the Scraper.
const (
	DefaultScrapeInterval = 5 * time.Second
	DefaultScrapeHistory  = 15 * time.Minute
	// DefaultMaxScrapedSeries bounds the series kept. A series costs about
	// 16 bytes a scrape over the history (180 scrapes at the defaults), so
	// the default bounds the history near 30 MB (twice that at worst while
	// slices grow). An edge has 18 series (requests and 17 buckets) per
	// outcome (response and gRPC code) seen.
	DefaultMaxScrapedSeries = 10000
)

// maxConcurrentScrapes bounds the scrapes in flight in a large mesh.
const maxConcurrentScrapes = 32

// Scraper is the "proxies" source: without a Prometheus, the control plane
// scrapes the proxies' metrics endpoints itself. It owns a bounded history
// of each target's outbound request counters and latency buckets; Run
// fills it, and Edges and Series read it, at the same time if need be.
type Scraper struct {
	targets func() []string
	cfg     scraperConfig

	mu    sync.RWMutex
	store *seriesStore
	// failing are the targets whose last scrape failed, with why; scraped
	// is how many targets the last round had.
	failing map[string]error
	scraped int
	// dropped is how many new series the last round could not keep.
	dropped int
}

var _ Metrics = (*Scraper)(nil)

type scraperConfig struct {
	interval, timeout, history time.Duration
	maxSeries                  int
	client                     *http.Client
	now                        func() time.Time
	log                        logr.Logger
}

// ScraperOption changes a default of NewScraper.
type ScraperOption func(*scraperConfig)

// ScraperTimeout bounds one scrape of one target. Default: half the
// interval.
func ScraperTimeout(d time.Duration) ScraperOption {
	return func(c *scraperConfig) { c.timeout = d }
}

// ScraperHistory is how long samples are kept, and how long a target that
// is gone is remembered. Windows and spans longer than it see only it. It
// is at least two intervals. Default: DefaultScrapeHistory.
func ScraperHistory(d time.Duration) ScraperOption {
	return func(c *scraperConfig) { c.history = d }
}

// ScraperMaxSeries bounds the series kept over all targets; new series
// beyond it are not kept, which Err reports. Default:
// DefaultMaxScrapedSeries.
func ScraperMaxSeries(n int) ScraperOption {
	return func(c *scraperConfig) { c.maxSeries = n }
}

// ScraperClient is the HTTP client of the scrapes, for TLS or a proxy
// dialer. Default: a plain client.
func ScraperClient(client *http.Client) ScraperOption {
	return func(c *scraperConfig) { c.client = client }
}

// ScraperClock is the clock that timestamps samples and ends windows.
// Default: time.Now.
func ScraperClock(now func() time.Time) ScraperOption {
	return func(c *scraperConfig) { c.now = now }
}

// ScraperLogger logs targets that start or stop failing and the series
// limit being reached. Default: no logs.
func ScraperLogger(log logr.Logger) ScraperOption {
	return func(c *scraperConfig) { c.log = log }
}

// NewScraper returns the source that scrapes the metrics URLs targets
// returns ("http://10.0.0.7:15020/metrics") every interval (default
// DefaultScrapeInterval); Run runs it.
func NewScraper(targets func() []string, interval time.Duration, opts ...ScraperOption) *Scraper {
	cfg := scraperConfig{interval: interval}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.interval <= 0 {
		cfg.interval = DefaultScrapeInterval
	}
	if cfg.timeout <= 0 {
		cfg.timeout = cfg.interval / 2
	}
	if cfg.history <= 0 {
		cfg.history = DefaultScrapeHistory
	}
	cfg.history = max(cfg.history, 2*cfg.interval)
	if cfg.maxSeries <= 0 {
		cfg.maxSeries = DefaultMaxScrapedSeries
	}
	if cfg.client == nil {
		cfg.client = &http.Client{}
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.log.GetSink() == nil {
		cfg.log = logr.Discard()
	}
	return &Scraper{targets: targets, cfg: cfg, store: newSeriesStore(cfg.maxSeries), failing: map[string]error{}}
}

// Name is "proxies".
func (s *Scraper) Name() string { return "proxies" }

// Run scrapes every target now and then every interval until ctx ends.
func (s *Scraper) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.interval)
	defer tick.Stop()
	for {
		s.Scrape(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Scrape scrapes every target once, queryAll, records what they
// return and forgets what is older than the history.
func (s *Scraper) Scrape(ctx context.Context) {
	targets := uniqueTargets(s.targets())
	results := make([]scrapeResult, len(targets))
	sem := make(chan struct{}, maxConcurrentScrapes)
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = s.scrape(ctx, target)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // a round cut short says nothing about the targets
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	dropped := 0
	for i, r := range results {
		if r.err != nil {
			s.noteFailure(targets[i], r.err)
			continue
		}
		dropped += s.store.ingest(targets[i], r.at, r.values)
		if _, was := s.failing[targets[i]]; was {
			delete(s.failing, targets[i])
			s.cfg.log.Info("Scraping a proxy's metrics works again", "target", targets[i])
		}
	}
	for target := range s.failing {
		if !slices.Contains(targets, target) {
			delete(s.failing, target)
		}
	}
	s.noteDropped(dropped)
	s.scraped = len(targets)
	s.store.forget(s.cfg.now().Add(-s.cfg.history))
}

func (s *Scraper) noteFailure(target string, err error) {
	if prev, was := s.failing[target]; !was || prev.Error() != err.Error() {
		s.cfg.log.Error(err, "Scraping a proxy's metrics failed", "target", target)
	}
	s.failing[target] = err
}

func (s *Scraper) noteDropped(dropped int) {
	switch {
	case dropped > 0 && s.dropped == 0:
		s.cfg.log.Error(s.seriesLimitError(dropped), "Proxy metrics are incomplete")
	case dropped == 0 && s.dropped > 0:
		s.cfg.log.Info("Proxy metrics fit the series limit again", "limit", s.cfg.maxSeries)
	}
	s.dropped = dropped
}

func (s *Scraper) seriesLimitError(dropped int) error {
	return fmt.Errorf("the series limit of %d is reached: %d series of the proxies' metrics were not kept, so some edges lack signals; give the dashboard a Prometheus, or raise the limit", s.cfg.maxSeries, dropped)
}

// Err says what the last round of scrapes missed: the targets that could
// not be scraped, and series beyond the limit. It is nil when nothing was
// missed.
func (s *Scraper) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var errs []error
	if len(s.failing) > 0 {
		const shown = 3
		targets := slices.Sorted(maps.Keys(s.failing))
		var msgs []string
		for _, t := range targets[:min(shown, len(targets))] {
			msgs = append(msgs, s.failing[t].Error())
		}
		if len(targets) > shown {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(targets)-shown))
		}
		errs = append(errs, fmt.Errorf("%d of %d proxies could not be scraped: %s", len(targets), s.scraped, strings.Join(msgs, "; ")))
	}
	if s.dropped > 0 {
		errs = append(errs, s.seriesLimitError(s.dropped))
	}
	return errors.Join(errs...)
}

// Edges are every edge's signals over the last window, from the samples
// in it. Edges of targets not scraped in the window are absent.
func (s *Scraper) Edges(_ context.Context, window time.Duration) ([]EdgeStats, error) {
	if err := checkSignalWindow(window); err != nil {
		return nil, err
	}
	now := s.cfg.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store.edges(now.Add(-window), now), nil
}

// Series are the signals of the requests svc received from all its
// callers over the last span, each point over the step before it. Step
// should cover at least two scrapes, or points are zero.
func (s *Scraper) Series(_ context.Context, svc ServiceKey, span, step time.Duration) (*Series, error) {
	times, err := seriesGrid(s.cfg.now(), span, step)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store.serviceSeries(svc, times, step), nil
}

// scrapeResult is one target's scrape.
type scrapeResult struct {
	at     time.Time
	values []scrapedValue
	err    error
}

// scrape fetches and parses one target's metrics.
func (s *Scraper) scrape(ctx context.Context, target string) scrapeResult {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	at := s.cfg.now()
	values, err := s.fetch(ctx, target)
	if err != nil {
		return scrapeResult{err: fmt.Errorf("scraping %s: %w", target, err)}
	}
	return scrapeResult{at: at, values: values}
}

func (s *Scraper) fetch(ctx context.Context, target string) ([]scrapedValue, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptTextFormat)
	resp, err := s.cfg.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return nil, fmt.Errorf("content type %q is not the Prometheus text format", ct)
		}
	}
	return parseProxyMetrics(http.MaxBytesReader(nil, resp.Body, maxScrapeBytes))
}

// uniqueTargets drops empty and repeated targets, keeping the order.
func uniqueTargets(targets []string) []string {
	out := make([]string, 0, len(targets))
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
