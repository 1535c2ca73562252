package dashboard

import (
	"math"
	"testing"
)

func TestCounterRate(t *testing.T) {
	// Samples every 5s (times in ms), 10 requests a second.
	steady := []counterSample{{0, 0}, {5000, 50}, {10000, 100}, {15000, 150}, {20000, 200}}
	for name, tc := range map[string]struct {
		samples  []counterSample
		from, to int64
		want     float64
	}{
		"no samples":                  {from: 0, to: 10000, want: 0},
		"one sample in the range":     {samples: steady, from: 1000, to: 9000, want: 0},
		"range from sample to sample": {samples: steady, from: 0, to: 20000, want: 10},
		"bounds are inclusive":        {samples: steady, from: 5000, to: 10000, want: 10},
		// Samples near the ends: extrapolated to them.
		"extrapolated to the ends": {samples: steady, from: 4000, to: 11000, want: 10},
		// The series starts 7.5s into a 20s range (5s after the start is
		// over 1.1 intervals): half an interval before its first sample.
		"series starts in the range": {samples: []counterSample{{7500, 100}, {12500, 150}, {17500, 200}}, from: 0, to: 20000,
			want: 100 * (10000 + 2500 + 2500) / 10000.0 / 20},
		// A counter that was 10 at its first sample was zero 1s before.
		"not extrapolated below zero": {samples: []counterSample{{3000, 10}, {8000, 60}, {13000, 110}}, from: 0, to: 13000,
			want: 100 * (10000 + 1000) / 10000.0 / 13},
		"no increase": {samples: []counterSample{{0, 5}, {5000, 5}}, from: 0, to: 5000, want: 0},
		"empty range": {samples: steady, from: 5000, to: 5000, want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := counterRate(tc.samples, tc.from, tc.to); !(math.Abs(got-tc.want) <= 1e-9) {
				t.Errorf("counterRate over [%d, %d] = %g, want %g", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestStoredSeriesResets(t *testing.T) {
	var s storedSeries
	for i, raw := range []float64{10, 20, 5, 8, 8, 2} {
		s.add(int64(i)*1000, raw)
	}
	s.add(1000, 99) // not after the last sample: ignored
	want := []float64{10, 20, 25, 28, 28, 30}
	for i, smp := range s.samples {
		if smp.v != want[i] {
			t.Fatalf("reset-adjusted values %v, want %v", s.samples, want)
		}
	}
	if len(s.samples) != len(want) {
		t.Fatalf("%d samples, want %d", len(s.samples), len(want))
	}
}
