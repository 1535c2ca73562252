package dashboard

import (
	"math"
	"testing"
)

func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(+1)
	for name, tc := range map[string]struct {
		q       float64
		buckets []histBucket
		want    float64
	}{
		"no buckets":         {q: 0.5, want: math.NaN()},
		"no observations":    {q: 0.5, buckets: []histBucket{{0.1, 0}, {1, 0}, {inf, 0}}, want: math.NaN()},
		"+Inf bucket alone":  {q: 0.5, buckets: []histBucket{{inf, 10}}, want: math.NaN()},
		"no +Inf bucket":     {q: 0.5, buckets: []histBucket{{0.1, 5}, {1, 10}}, want: math.NaN()},
		"one finite bucket":  {q: 0.5, buckets: []histBucket{{0.1, 10}, {inf, 10}}, want: 0.05},
		"from zero in first": {q: 0.25, buckets: []histBucket{{0.1, 4}, {0.2, 8}, {inf, 8}}, want: 0.05},
		"interpolated":       {q: 0.75, buckets: []histBucket{{0.1, 4}, {0.2, 8}, {inf, 8}}, want: 0.15},
		"upper bound":        {q: 1, buckets: []histBucket{{0.1, 4}, {0.2, 8}, {inf, 8}}, want: 0.2},
		"rank in +Inf":       {q: 0.99, buckets: []histBucket{{0.1, 4}, {0.2, 8}, {inf, 10}}, want: 0.2},
		"all in +Inf":        {q: 0.5, buckets: []histBucket{{0.1, 0}, {0.2, 0}, {inf, 10}}, want: 0.2},
		"unsorted":           {q: 0.75, buckets: []histBucket{{inf, 8}, {0.2, 8}, {0.1, 4}}, want: 0.15},
		"same bound twice":   {q: 0.75, buckets: []histBucket{{0.1, 2}, {0.2, 4}, {0.1, 2}, {0.2, 4}, {inf, 4}, {inf, 4}}, want: 0.15},
		"not monotonic":      {q: 0.5, buckets: []histBucket{{0.1, 4}, {0.2, 3.9999}, {0.4, 8}, {inf, 8}}, want: 0.1},
		"non-positive first": {q: 0.1, buckets: []histBucket{{-1, 2}, {1, 10}, {inf, 10}}, want: -1},
		"q below 0":          {q: -0.1, buckets: []histBucket{{0.1, 4}, {inf, 8}}, want: math.Inf(-1)},
		"q above 1":          {q: 1.1, buckets: []histBucket{{0.1, 4}, {inf, 8}}, want: math.Inf(+1)},
		"q NaN":              {q: math.NaN(), buckets: []histBucket{{0.1, 4}, {inf, 8}}, want: math.NaN()},
		// Rates, not counts: fractions interpolate the same.
		"rates": {q: 0.5, buckets: []histBucket{{0.0025, 0}, {0.005, 0.8}, {0.025, 0.8}, {0.05, 1}, {inf, 1}}, want: 0.0040625},
	} {
		t.Run(name, func(t *testing.T) {
			got := bucketQuantile(tc.q, tc.buckets)
			if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want) || math.Abs(got-tc.want) < 1e-12) {
				t.Errorf("bucketQuantile(%g, %v) = %g, want %g", tc.q, tc.buckets, got, tc.want)
			}
		})
	}
}
