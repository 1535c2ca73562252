package dashboard

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// histBucket is one cumulative histogram bucket: how many observations (or
// how much of their rate) were at most upperBound.
type histBucket struct {
	upperBound float64
	count      float64
}

// bucketQuantile is the q-quantile of cumulative buckets, computed as
// Prometheus' histogram_quantile computes it for classic histograms, so
// that both metric sources report the same latency for the same data:
//
//   - the value is interpolated linearly inside the bucket the rank falls
//     in, from 0 for the lowest bucket when its bound is positive (else
//     that bound is returned);
//   - a rank in the +Inf bucket gives the highest finite bound;
//   - NaN when there are no observations, fewer than two buckets, or no
//     +Inf bucket; -Inf for q < 0, +Inf for q > 1.
//
// Buckets with the same bound are added up and the counts are made
// monotonic. The argument is sorted and may be modified.
func bucketQuantile(q float64, buckets []histBucket) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	case len(buckets) == 0:
		return math.NaN()
	}
	slices.SortFunc(buckets, func(a, b histBucket) int { return cmp.Compare(a.upperBound, b.upperBound) })
	if !math.IsInf(buckets[len(buckets)-1].upperBound, +1) {
		return math.NaN()
	}
	buckets = coalesceBuckets(buckets)
	ensureMonotonicBuckets(buckets)
	if len(buckets) < 2 {
		return math.NaN()
	}
	observations := buckets[len(buckets)-1].count
	if observations == 0 {
		return math.NaN()
	}
	rank := q * observations
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].count >= rank })
	if b == len(buckets)-1 {
		return buckets[len(buckets)-2].upperBound
	}
	if b == 0 && buckets[0].upperBound <= 0 {
		return buckets[0].upperBound
	}
	start, end, count := 0.0, buckets[b].upperBound, buckets[b].count
	if b > 0 {
		start = buckets[b-1].upperBound
		count -= buckets[b-1].count
		rank -= buckets[b-1].count
	}
	return start + (end-start)*(rank/count)
}

// coalesceBuckets adds up sorted buckets of the same bound.
func coalesceBuckets(buckets []histBucket) []histBucket {
	out := buckets[:1]
	for _, b := range buckets[1:] {
		if last := &out[len(out)-1]; b.upperBound == last.upperBound {
			last.count += b.count
		} else {
			out = append(out, b)
		}
	}
	return out
}

// ensureMonotonicBuckets raises any count below that of a lower bucket, which
// float error in sums of rates can cause; the binary search of
// bucketQuantile relies on monotonic counts.
func ensureMonotonicBuckets(buckets []histBucket) {
	highest := buckets[0].count
	for i := range buckets[1:] {
		b := &buckets[i+1]
		if b.count < highest {
			b.count = highest
		} else {
			highest = b.count
		}
	}
}
