package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// The cost of mTLS between the two sidecars is a difference of a few
// microseconds inside run-to-run noise of a tenth of a millisecond on a
// shared 2-core machine: two runs one after the other cannot show it. So
// the h2c pair and the mTLS pair run side by side and take the load in
// turn, in blocks of a tenth of a second: each pair gets the target rate
// while it is its turn, and every few hundred milliseconds of the
// machine's load touch both alike. A client sends requests on a fixed
// schedule over kept-alive connections, as the application would, each
// in its own goroutine: it never waits for a response before sending the
// next, so there is no coordinated omission, and each request is timed
// from when it is sent. (Timing from the schedule would add the client's
// own timer lateness, half a millisecond here, to both pairs.) Rounds
// give paired samples of the p50 difference; the result is their median.

// costRound is one round: the p50 of each pair and the CPU both proxies
// of each pair spent per 1,000 requests.
type costRound struct {
	plain, mtls       float64 // p50, seconds
	plainCPU, mtlsCPU float64
}

type mtlsCost struct {
	rounds  []costRound
	skipped string
}

func measureMTLSCost(ctx context.Context, o options, backend string) mtlsCost {
	if o.costRounds <= 0 {
		return mtlsCost{skipped: "-cost-rounds 0"}
	}
	var urls [2]string // h2c, mTLS
	var procs [2][]*os.Process
	for i, mtls := range []bool{false, true} {
		url, ps, stop, err := plexusChain(ctx, o, backend, 2, mtls)
		if err != nil {
			return mtlsCost{skipped: err.Error()}
		}
		defer stop()
		urls[i], procs[i] = url, ps
	}
	if _, err := pacedPair(ctx, urls, o.qps, 4*time.Second); err != nil { // warm-up
		return mtlsCost{skipped: err.Error()}
	}
	var c mtlsCost
	for round := range o.costRounds {
		before := [2][]float64{cpu(procs[0]), cpu(procs[1])}
		lat, err := pacedPair(ctx, urls, o.qps, o.costDuration)
		if err != nil {
			return mtlsCost{skipped: err.Error()}
		}
		var r costRound
		for i := range 2 {
			var spent float64
			for j, after := range cpu(procs[i]) {
				spent += after - before[i][j]
			}
			perK := spent / float64(len(lat[i])) * 1000
			if i == 0 {
				r.plain, r.plainCPU = percentile(lat[i], 50), perK
			} else {
				r.mtls, r.mtlsCPU = percentile(lat[i], 50), perK
			}
		}
		fmt.Fprintf(os.Stderr, "  mTLS cost round %d: p50 h2c %s ms, mTLS %s ms\n", round+1, ms(r.plain), ms(r.mtls))
		c.rounds = append(c.rounds, r)
	}
	return c
}

// costBlock is how long one pair takes the load before the other does.
const costBlock = 100 * time.Millisecond

// pacedPair sends requests at qps for d, in blocks of costBlock to each
// URL in turn, and returns each one's latencies, sorted, in seconds.
func pacedPair(ctx context.Context, urls [2]string, qps int, d time.Duration) ([2][]float64, error) {
	interval := time.Second / time.Duration(qps)
	perBlock := int(costBlock / interval)
	var clients [2]*http.Client
	for i := range clients {
		clients[i] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer clients[i].CloseIdleConnections()
	}
	var mu sync.Mutex
	var out [2][]float64
	var errs []error
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Duration(n)*interval < d && ctx.Err() == nil; n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
		i := (n / perBlock) % 2
		wg.Go(func() {
			sent := time.Now()
			err := get(ctx, clients[i], urls[i])
			took := time.Since(sent).Seconds()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[i] = append(out[i], took)
		})
	}
	wg.Wait()
	for i := range out {
		slices.Sort(out[i])
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%d requests failed, first: %w", len(errs), errs[0])
	}
	return out, nil
}

// get makes one request and reads the whole response.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return nil
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// mtlsTarget is the most mTLS may add to the pair's p50.
const mtlsTarget = 0.05e-3

func (c mtlsCost) render(o options) string {
	var b strings.Builder
	b.WriteString("\n## What mTLS adds to the sidecar pair\n\n")
	if c.skipped != "" {
		fmt.Fprintf(&b, "Skipped: %s.\n", c.skipped)
		return b.String()
	}
	fmt.Fprintf(&b, "The h2c pair and the mTLS pair run side by side and take the load in turn, %d requests/s in blocks of %s, so that every few hundred milliseconds of the machine's load touch both alike; two runs one after the other differ by more than mTLS costs. A Go client sends requests on that schedule over kept-alive connections, never waiting for a response before the next (no coordinated omission), and times each from when it is sent. %d rounds of %s each give paired samples; the result is the median of their differences. The p50s include the Go client's own time, so they are higher than fortio's above; the difference between the pairs is the measure.\n\n",
		o.qps, costBlock, len(c.rounds), o.costDuration)
	b.WriteString("| round | p50 h2c ms | p50 mTLS ms | added ms | CPU s / 1k req h2c (both proxies) | mTLS |\n|---|---|---|---|---|---|\n")
	var added, addedCPU []float64
	for i, r := range c.rounds {
		added = append(added, r.mtls-r.plain)
		addedCPU = append(addedCPU, r.mtlsCPU-r.plainCPU)
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.3f | %.3f |\n", i+1, ms(r.plain), ms(r.mtls), ms(r.mtls-r.plain), r.plainCPU, r.mtlsCPU)
	}
	m := median(added)
	fmt.Fprintf(&b, "\nmTLS adds %s ms to the pair's p50 (median of the rounds; they range from %s to %s ms) and %.3f CPU s per 1,000 requests over both proxies. Target: <= %s ms: %s.\n",
		ms(m), ms(slices.Min(added)), ms(slices.Max(added)), median(addedCPU), ms(mtlsTarget), mark(m <= mtlsTarget))
	return b.String()
}
