package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func ms(s float64) string { return fmt.Sprintf("%.3f", s*1000) }

// render formats the results as Markdown.
func render(o options, results []result, cost mtlsCost) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Proxy benchmark\n\n")
	fmt.Fprintf(&b, "Run %s on %d cores (%s/%s, %s), everything on loopback: the backend, the proxies and the load generator share the machine. ",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "Load: fortio %s at %d requests/s over %d connections for %s (after a 2 s warm-up), 1 kB responses; then as fast as possible over %d connections for %s. ",
		version(o.fortio, "version"), o.qps, o.conns, o.duration, o.maxConns, o.maxDuration)
	fmt.Fprintf(&b, "Latencies are corrected for coordinated omission: each request is timed from when it was scheduled. Reproduce with `make bench`.\n\n")
	var direct *result
	for i := range results {
		if results[i].name == "direct (no proxy)" && results[i].skipped == "" {
			direct = &results[i]
		}
	}
	var nginx float64
	for _, r := range results {
		if r.name == "nginx" && r.skipped == "" {
			nginx = r.maxQPS
		}
	}
	b.WriteString("| setup | p50 ms | p90 ms | p99 ms | p99.9 ms | added p50 ms | added p99 ms | rps achieved | CPU s / 1k req (per proxy) | peak RSS MB (per proxy) | max rps @" + fmt.Sprint(o.maxConns) + " conns | vs nginx |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped: %s |||||||||||\n", r.name, r.skipped)
			continue
		}
		added50, added99 := "", ""
		if direct != nil && r.name != direct.name {
			added50, added99 = ms(r.p50-direct.p50), ms(r.p99-direct.p99)
		}
		var cpu, rss []string
		for i := range r.cpuPer1000 {
			cpu = append(cpu, fmt.Sprintf("%.3f", r.cpuPer1000[i]))
			rss = append(rss, fmt.Sprintf("%.1f", float64(r.rss[i])/(1<<20)))
		}
		vs := ""
		if nginx > 0 && len(r.cpuPer1000) > 0 {
			vs = fmt.Sprintf("%.2fx", r.maxQPS/nginx)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %.0f | %s |\n", r.name,
			ms(r.p50), ms(r.p90), ms(r.p99), ms(r.p999), added50, added99, r.qps,
			strings.Join(cpu, " / "), strings.Join(rss, " / "), r.maxQPS, vs)
	}
	b.WriteString(targets(results, direct, nginx))
	fmt.Fprintf(&b, "\nCPU seconds per 1,000 requests equals vCPU per 1,000 requests/s. For two sidecars the numbers are client / server sidecar. Versions: %s; %s; %s.\n",
		version("nginx", "-v"), version("haproxy", "-v"), version(o.fortio, "version"))
	b.WriteString(cost.render(o))
	b.WriteString("\nThe control plane's scale benchmark (xDS to 1,000 and 5,000 proxies) is in [benchmarks-control-plane.md](benchmarks-control-plane.md).\n")
	return b.String()
}

func version(bin string, arg string) string {
	out, err := exec.Command(bin, arg).CombinedOutput() //nolint:noctx // a version query
	if err != nil {
		return bin + " (not installed)"
	}
	line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	return line
}

// targets checks the single-sidecar row against the project's goals.
func targets(results []result, direct *result, nginx float64) string {
	var r *result
	for i := range results {
		if results[i].name == "plexus, 1 sidecar" && results[i].skipped == "" {
			r = &results[i]
		}
	}
	if r == nil || direct == nil || len(r.cpuPer1000) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nTargets for one sidecar at 1,000 requests/s:\n\n")
	latency := func(added, target float64) string {
		if added < 0 {
			return "below the run's noise (the direct baseline varies more than the hop adds)"
		}
		return mark(added <= target)
	}
	fmt.Fprintf(&b, "- added p50 <= 0.1 ms: %s ms, %s\n", ms(r.p50-direct.p50), latency(r.p50-direct.p50, 0.0001))
	fmt.Fprintf(&b, "- added p99 <= 0.25 ms: %s ms, %s\n", ms(r.p99-direct.p99), latency(r.p99-direct.p99, 0.00025))
	fmt.Fprintf(&b, "- CPU <= 0.1 vCPU per 1,000 requests/s: %.3f, %s\n", r.cpuPer1000[0], mark(r.cpuPer1000[0] <= 0.1))
	fmt.Fprintf(&b, "- peak RSS <= 20 MB: %.1f MB, %s\n", float64(r.rss[0])/(1<<20), mark(r.rss[0] <= 20<<20))
	if nginx > 0 {
		fmt.Fprintf(&b, "- throughput >= 0.8x nginx: %.2fx, %s\n", r.maxQPS/nginx, mark(r.maxQPS/nginx >= 0.8))
	}
	b.WriteString("\nOn a 2-core machine the load generator, backend and proxies compete for the same cores, so latency differences of a fraction of a millisecond are within the noise of a single run (the direct baseline's own p99 shows how much).")
	if virtualized() {
		b.WriteString(" This machine is a virtual machine: waking a thread on another vCPU (a futex) is far dearer than on bare metal, which costs a Go program, whose scheduler hands work between threads, more than an event loop such as nginx's.")
	}
	b.WriteString("\n")
	return b.String()
}

// mark says whether a target is met.
func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// virtualized reports whether the CPU says it runs under a hypervisor.
func virtualized() bool {
	data, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(data), " hypervisor")
}
