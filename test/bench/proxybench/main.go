// Command proxybench measures what a Plexus sidecar adds to a request, side
// by side with nginx and HAProxy as reverse proxies, on loopback. Load comes
// from fortio at a constant rate; latency percentiles are corrected for
// coordinated omission from fortio's per-request log (each request is timed
// from when it should have been sent, not when it was). It prints a
// Markdown table and can write it to a file.
//
//	go run ./test/bench/proxybench -out docs/benchmarks.md
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

type options struct {
	out, fortio, proxy, workdir string
	proxyArgs                   []string
	qps, conns, maxConns        int
	duration, maxDuration       time.Duration
	costRounds                  int
	costDuration                time.Duration
	only                        string
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "also write the report (Markdown) to this file")
	flag.StringVar(&o.fortio, "fortio", "fortio", "fortio binary (v1.63.0)")
	flag.StringVar(&o.proxy, "proxy", "", "plexus-proxy binary (default: build it)")
	flag.IntVar(&o.qps, "qps", 1000, "constant request rate")
	flag.IntVar(&o.conns, "c", 16, "connections at the constant rate")
	flag.IntVar(&o.maxConns, "max-c", 64, "connections for the maximum throughput run")
	flag.DurationVar(&o.duration, "t", 15*time.Second, "duration of the constant-rate run")
	flag.DurationVar(&o.maxDuration, "max-t", 10*time.Second, "duration of the maximum throughput run")
	flag.IntVar(&o.costRounds, "cost-rounds", 10, "rounds of the paired h2c / mTLS comparison; 0 skips it")
	flag.DurationVar(&o.costDuration, "cost-t", 6*time.Second, "duration of each pair's load in a round of the comparison")
	flag.StringVar(&o.only, "only", "", `"mtls-cost": run only the paired h2c / mTLS comparison`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.workdir = dir
	if o.proxy == "" {
		o.proxy = filepath.Join(dir, "plexus-proxy")
		fmt.Fprintln(os.Stderr, "building plexus-proxy")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", o.proxy, "./cmd/plexus-proxy")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building plexus-proxy (run from the repository root): %w", err)
		}
	}
	backend, backendAddr, err := startBackend()
	if err != nil {
		return err
	}
	defer backend.Close()

	var results []result
	for _, s := range setups(o, backendAddr) {
		if o.only != "" {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "measuring %s\n", s.name)
		r, err := measure(ctx, o, s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "  skipped: %v\n", err)
			r = result{name: s.name, skipped: err.Error()}
		}
		results = append(results, r)
	}
	fmt.Fprintln(os.Stderr, "measuring what mTLS adds to the sidecar pair")
	cost := measureMTLSCost(ctx, o, backendAddr)
	report := render(o, results, cost)
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

// payload is the 1 kB response body.
var payload = strings.Repeat("x", 1024)

// startBackend serves 1 kB responses over HTTP/1.1 and h2c.
func startBackend() (*http.Server, string, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, payload)
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}
