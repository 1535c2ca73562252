package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSeriesGrid(t *testing.T) {
	now := t0.Add(7 * time.Second)
	for name, tc := range map[string]struct {
		span, step time.Duration
		want       []int64 // seconds after t0
		err        string
	}{
		"aligned to the step": {span: 30 * time.Second, step: 10 * time.Second, want: []int64{-20, -10, 0}},
		"partial step":        {span: 25 * time.Second, step: 10 * time.Second, want: []int64{-10, 0}},
		"span below the step": {span: time.Second, step: 5 * time.Second, want: []int64{5}},
		"step under 1s":       {span: time.Minute, step: 500 * time.Millisecond, err: "at least 1s"},
		"no span":             {span: 0, step: time.Second, err: "must be positive"},
		"too many points":     {span: 24 * time.Hour, step: time.Second, err: "86400 points, more than the limit of 11000"},
	} {
		t.Run(name, func(t *testing.T) {
			times, err := seriesGrid(now, tc.span, tc.step)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, tm := range times {
				got = append(got, tm.Unix()-t0.Unix())
			}
			if !cmp.Equal(got, tc.want) {
				t.Errorf("times %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute:                        "1m",
		30 * time.Second:                   "30s",
		90 * time.Second:                   "90s",
		2 * time.Hour:                      "2h",
		1500 * time.Millisecond:            "1500ms",
		time.Second + 400*time.Microsecond: "1s",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
