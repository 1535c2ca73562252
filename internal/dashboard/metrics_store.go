package dashboard

import (
	"sort"
	"time"
)

// seriesKind tells the two kinds of series the scraper keeps apart.
type seriesKind uint8

const (
	requestsSeries seriesKind = iota // plexus_requests_total
	bucketSeries                     // a bucket of plexus_request_duration_seconds
)

// scrapedValue is one series' value in one scrape.
type scrapedValue struct {
	// key identifies the series within its target: kind, labels, bound.
	key   string
	kind  seriesKind
	le    float64 // bucket's upper bound
	value float64
	// labels are read only when the series is new.
	labels func() map[string]string
}

// storedSeries is the history of one counter of one target.
type storedSeries struct {
	edge   edgeKey
	kind   seriesKind
	failed bool    // requests that count as failed
	le     float64 // bucket's upper bound
	// samples are in time order and reset-adjusted; raw is the last value
	// as scraped and offset what earlier resets took away.
	samples     []counterSample
	raw, offset float64
}

// add records a scraped value. A value below the previous one is a reset
// (the proxy restarted): the counter starts again from zero.
func (s *storedSeries) add(t int64, raw float64) {
	if n := len(s.samples); n > 0 && t <= s.samples[n-1].t {
		return
	}
	if raw < s.raw {
		s.offset += s.raw
	}
	s.raw = raw
	s.samples = append(s.samples, counterSample{t: t, v: raw + s.offset})
}

// targetSeries are the series of one scrape target.
type targetSeries struct {
	// last is when the target was last scraped successfully (Unix ms).
	last   int64
	series map[string]*storedSeries
}

// seriesStore is the scraper's history: the series of every target, in
// total at most max. It is not safe for concurrent use; the Scraper
// guards it.
type seriesStore struct {
	max     int
	count   int
	targets map[string]*targetSeries
}

func newSeriesStore(maxSeries int) *seriesStore {
	return &seriesStore{max: maxSeries, targets: map[string]*targetSeries{}}
}

// ingest records a target's scrape at t and returns how many new series
// were not kept because the store is full. A series new to a target that
// was scraped before started at zero since that scrape: proxies create a
// series with its first request, so its first requests count.
func (st *seriesStore) ingest(target string, t time.Time, values []scrapedValue) (dropped int) {
	ts := st.targets[target]
	if ts == nil {
		ts = &targetSeries{series: map[string]*storedSeries{}}
		st.targets[target] = ts
	}
	ms := t.UnixMilli()
	for _, v := range values {
		s := ts.series[v.key]
		if s == nil {
			if st.count >= st.max {
				dropped++
				continue
			}
			s = newStoredSeries(v)
			ts.series[v.key] = s
			st.count++
			if ts.last != 0 && ts.last < ms {
				s.samples = append(s.samples, counterSample{t: ts.last})
			}
		}
		s.add(ms, v.value)
	}
	ts.last = max(ts.last, ms)
	return dropped
}

func newStoredSeries(v scrapedValue) *storedSeries {
	labels := v.labels()
	s := &storedSeries{kind: v.kind, le: v.le, edge: edgeKeyOf(func(name string) string { return labels[name] })}
	if v.kind == requestsSeries {
		s.failed = failedRequest.matches(labels)
	}
	return s
}

// forget drops samples older than cutoff, then the series left without
// samples, then the targets left without series that were not scraped
// since cutoff: a target gone for longer than the history.
func (st *seriesStore) forget(cutoff time.Time) {
	c := cutoff.UnixMilli()
	for name, ts := range st.targets {
		for key, s := range ts.series {
			i := sort.Search(len(s.samples), func(i int) bool { return s.samples[i].t >= c })
			// Reslicing keeps the backing array until append outgrows
			// it; the live samples are then copied to a new one.
			s.samples = s.samples[i:]
			if len(s.samples) == 0 {
				delete(ts.series, key)
				st.count--
			}
		}
		if len(ts.series) == 0 && ts.last < c {
			delete(st.targets, name)
		}
	}
}

// signalRates are an edge's (or a service's) rates over a range.
type signalRates struct {
	total, failed float64
	buckets       map[float64]float64
}

func (r *signalRates) add(s *storedSeries, rate float64) {
	switch s.kind {
	case requestsSeries:
		r.total += rate
		if s.failed {
			r.failed += rate
		}
	case bucketSeries:
		if r.buckets == nil {
			r.buckets = map[float64]float64{}
		}
		r.buckets[s.le] += rate
	}
}

func (r *signalRates) signals() Signals {
	buckets := make([]histBucket, 0, len(r.buckets))
	for le, c := range r.buckets {
		buckets = append(buckets, histBucket{upperBound: le, count: c})
	}
	return signalsOf(r.total, r.failed, buckets)
}

// edges are the signals of every edge with samples in [from, to].
func (st *seriesStore) edges(from, to time.Time) []EdgeStats {
	f, t := from.UnixMilli(), to.UnixMilli()
	perEdge := map[edgeKey]*signalRates{}
	for _, ts := range st.targets {
		for _, s := range ts.series {
			if !hasSampleIn(s.samples, f, t) {
				continue
			}
			r := perEdge[s.edge]
			if r == nil {
				r = &signalRates{}
				perEdge[s.edge] = r
			}
			r.add(s, counterRate(s.samples, f, t))
		}
	}
	out := make([]EdgeStats, 0, len(perEdge))
	for k, r := range perEdge {
		out = append(out, k.stats(r.signals()))
	}
	sortEdgeStats(out)
	return out
}

// serviceSeries are the signals of the requests svc received, at each of
// times over the step before it.
func (st *seriesStore) serviceSeries(svc ServiceKey, times []time.Time, step time.Duration) *Series {
	points := make([]signalRates, len(times))
	for _, ts := range st.targets {
		for _, s := range ts.series {
			if !s.edge.calls(svc) {
				continue
			}
			for i, at := range times {
				t := at.UnixMilli()
				points[i].add(s, counterRate(s.samples, t-step.Milliseconds(), t))
			}
		}
	}
	out := newZeroSeries(step, times)
	for i := range points {
		sig := points[i].signals()
		out.RPS[i], out.ErrorRate[i], out.P50[i], out.P99[i] = sig.RPS, sig.ErrorRate, sig.P50, sig.P99
	}
	return out
}

// hasSampleIn tells whether samples has one in [from, to].
func hasSampleIn(samples []counterSample, from, to int64) bool {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].t >= from })
	return i < len(samples) && samples[i].t <= to
}
