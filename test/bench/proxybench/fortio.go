package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// fortioResult is the part of fortio's JSON result the report uses.
type fortioResult struct {
	StartTime         time.Time
	ActualQPS         float64
	NumThreads        int
	RetCodes          map[string]int64
	DurationHistogram struct{ Count int64 }
}

// accessEntry is one line of fortio's JSON access log.
type accessEntry struct {
	Latency   float64 `json:"latency"`
	Timestamp int64   `json:"timestamp"`
	Thread    int     `json:"thread"`
	Iter      int64   `json:"iter"`
	OK        bool    `json:"ok"`
}

// load runs fortio against url. With qps > 0 it also returns latencies
// corrected for coordinated omission.
func load(ctx context.Context, o options, url string, qps, conns int, d time.Duration, tag string) (*fortioResult, []float64, error) {
	jsonFile := filepath.Join(o.workdir, tag+".json")
	logFile := filepath.Join(o.workdir, tag+".access.json")
	args := []string{"load", "-quiet", "-c", strconv.Itoa(conns), "-t", d.String(), "-qps", strconv.Itoa(qps),
		"-uniform", "-json", jsonFile, "-a=false"}
	if qps > 0 {
		args = append(args, "-access-log-file", logFile, "-access-log-format", "json")
	}
	cmd := exec.CommandContext(ctx, o.fortio, append(args, url)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("fortio: %w\n%s", err, out)
	}
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		return nil, nil, err
	}
	var res fortioResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, nil, fmt.Errorf("fortio result: %w", err)
	}
	if qps <= 0 {
		return &res, nil, nil
	}
	lat, err := correctedLatencies(logFile, &res, qps, d)
	return &res, lat, err
}

// correctedLatencies times each request from when fortio's schedule meant
// to send it: a request sent late because an earlier one on its connection
// was slow counts that wait too (Gil Tene's coordinated omission). It
// mirrors fortio's scheduling in -uniform -qps mode: thread k of n starts
// k/n of a period late, then sends request i at i periods (stretched by
// 1/(calls-1) as fortio does for fixed durations).
func correctedLatencies(path string, res *fortioResult, qps int, d time.Duration) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := res.NumThreads
	perThread := float64(qps) / float64(n)
	period := 1 / perThread
	calls := float64(int64(float64(qps)*d.Seconds()) / int64(n))
	start := float64(res.StartTime.UnixNano()) / 1e9
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e accessEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("fortio access log: %w", err)
		}
		intended := start + period*float64(e.Thread)/float64(n) + (float64(e.Iter)+float64(e.Iter)/max(calls-1, 1))*period
		actual := float64(e.Timestamp) / 1e9
		lat := e.Latency
		if late := actual - intended; late > 0 {
			lat += late
		}
		out = append(out, lat)
	}
	sort.Float64s(out)
	return out, sc.Err()
}

// percentile of sorted values (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
