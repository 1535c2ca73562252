package dashboard

import "sort"

// counterSample is one scraped value of a counter at t (Unix latencyMillis), with
// earlier counter resets added back, so that values never decrease.
type counterSample struct {
	t int64
	v float64
}

// counterRate is the per-second rate of a reset-adjusted counter over the
// closed range [from, to] (Unix latencyMillis), computed as Prometheus'
// rate() computes it, so that both sources agree: the increase between
// the first and last samples in the range, extrapolated to the range's
// ends when the samples come close to them (within 1.1 average intervals;
// else by half an interval, as for a series that starts or stops inside
// the range), and not below the counter's zero. Fewer than two samples in
// the range give 0. samples are in time order.
func counterRate(samples []counterSample, from, to int64) float64 {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].t >= from })
	j := sort.Search(len(samples), func(i int) bool { return samples[i].t > to }) - 1
	if j-i < 1 || to <= from {
		return 0
	}
	first, last := samples[i], samples[j]
	increase := last.v - first.v
	sampled := float64(last.t - first.t)
	if increase <= 0 || sampled <= 0 {
		return 0
	}
	toStart, toEnd := float64(first.t-from), float64(to-last.t)
	average := sampled / float64(j-i)
	threshold := average * 1.1
	// A counter was zero at most this long before its first sample. The
	// value is reset-adjusted, so after a reset before the range this
	// allows a little more than Prometheus would, never less.
	if toZero := sampled * first.v / increase; toZero < toStart {
		toStart = toZero
	}
	extrapolated := sampled
	if toStart < threshold {
		extrapolated += toStart
	} else {
		extrapolated += average / 2
	}
	if toEnd < threshold {
		extrapolated += toEnd
	} else {
		extrapolated += average / 2
	}
	seconds := float64(to-from) / 1000
	return increase * (extrapolated / sampled) / seconds
}
