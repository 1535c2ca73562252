package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// result is one setup's numbers.
type result struct {
	name    string
	skipped string
	// Constant-rate run.
	p50, p90, p99, p999 float64 // seconds, corrected for coordinated omission
	qps                 float64
	errors              int64
	cpuPer1000          []float64 // CPU seconds per 1,000 requests, per proxy process group
	rss                 []int64   // peak RSS per proxy, bytes
	// Maximum throughput run.
	maxQPS float64
}

func measure(ctx context.Context, o options, s setup) (result, error) {
	r := result{name: s.name}
	url, procs, stop, err := s.start(ctx)
	if err != nil {
		return r, err
	}
	defer stop()
	// Warm up connections and the Go runtime so the first second does not
	// dominate the tail.
	if _, _, err := load(ctx, o, url, o.qps, o.conns, 2*time.Second, "warmup"); err != nil {
		return r, err
	}
	before := cpu(procs)
	res, lat, err := load(ctx, o, url, o.qps, o.conns, o.duration, "rate")
	if err != nil {
		return r, err
	}
	after := cpu(procs)
	r.qps = res.ActualQPS
	r.errors = res.DurationHistogram.Count - res.RetCodes["200"]
	r.p50, r.p90, r.p99, r.p999 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), percentile(lat, 99.9)
	requests := float64(res.DurationHistogram.Count)
	for i := range procs {
		r.cpuPer1000 = append(r.cpuPer1000, (after[i]-before[i])/requests*1000)
		r.rss = append(r.rss, peakRSS(procs[i].Pid))
	}
	r.cpuPer1000, r.rss = groupNginx(s.name, r.cpuPer1000, r.rss)
	maxRes, _, err := load(ctx, o, url, 0, o.maxConns, o.maxDuration, "max")
	if err != nil {
		return r, err
	}
	r.maxQPS = maxRes.ActualQPS
	if r.errors > 0 {
		fmt.Fprintf(os.Stderr, "  %d requests failed\n", r.errors)
	}
	return r, nil
}

func cpu(procs []*os.Process) []float64 {
	out := make([]float64, len(procs))
	for i, p := range procs {
		out[i] = cpuSeconds(p.Pid)
	}
	return out
}

// groupNginx sums nginx's master and workers into one proxy.
func groupNginx(name string, cpu []float64, rss []int64) ([]float64, []int64) {
	if name != "nginx" || len(cpu) < 2 {
		return cpu, rss
	}
	var c float64
	var m int64
	for i := range cpu {
		c += cpu[i]
		m += rss[i]
	}
	return []float64{c}, []int64{m}
}
