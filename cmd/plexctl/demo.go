package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/demo"
)

func newDemoCommand() *cobra.Command {
	o := demo.Options{Base: demo.DefaultBase, RPS: 20}
	var promDir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a two-cluster mesh on this machine, with a sample application and the dashboard",
		Long: `demo starts two local clusters, east and west, each with its control plane
(local mode), east-west gateway and mTLS; a sample application (frontend
calling reviews over HTTP, with a canary and a TrafficPolicy, and ratings over
gRPC, exported from west) with sidecars; a traffic generator; and Prometheus
and Alertmanager when it finds them. It prints the URLs and what to try, and
stops everything on Ctrl-C. No root, no Kubernetes: every workload has
loopback addresses of its own (127.77.x.x) and its ports start at --base-port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.BinDir == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				o.BinDir = filepath.Dir(exe)
			}
			findMonitoring(&o, promDir)
			o.Out = cmd.OutOrStdout()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			err := demo.Run(ctx, o, nil)
			if err == nil {
				fmt.Fprintln(o.Out, "the demo stopped; nothing is left running")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.BinDir, "bin-dir", "", "directory holding plexus-operator and plexus-proxy (default: plexctl's own)")
	f.StringVar(&o.Dir, "dir", "", "directory for the clusters' configuration, CAs and logs (default: a temporary one, removed at the end)")
	f.IntVar(&o.Base, "base-port", o.Base, "first of the 100 ports the demo uses")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (default: run until Ctrl-C)")
	f.IntVar(&o.RPS, "rps", o.RPS, "requests per second the traffic generator sends")
	f.StringVar(&promDir, "prometheus-dir", os.Getenv("PLEXUS_PROMETHEUS_BIN"), "directory holding prometheus and alertmanager (make demo passes what hack/prometheus.sh provides); default: PATH")
	cmd.AddCommand(newDemoFaultCommand(), newDemoCanaryCommand(), newDemoGatewayCommand())
	return cmd
}

// findMonitoring looks for Prometheus and Alertmanager in dir, then PATH.
func findMonitoring(o *demo.Options, dir string) {
	find := func(names ...string) string {
		for _, n := range names {
			if dir != "" {
				if p := filepath.Join(dir, n); isExecutable(p) {
					return p
				}
			}
		}
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
		}
		return ""
	}
	o.Prometheus = find("prometheus")
	o.Alertmanager = find("alertmanager", "prometheus-alertmanager")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// control calls the running demo's control API.
type control struct{ base int }

func (c *control) bind(cmd *cobra.Command) {
	cmd.Flags().IntVar(&c.base, "base-port", demo.DefaultBase, "the running demo's --base-port")
}

func (c *control) post(ctx context.Context, w io.Writer, path string, body any) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", c.base+99, path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no demo answers at 127.0.0.1:%d (is plexctl demo running, with this --base-port?): %w", c.base+99, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return errors.New(cmp.Or(e.Error, resp.Status))
	}
	var st demo.ControlStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	fmt.Fprintf(w, "canary %d%% · gateways %v · requests %d sent, %d failed\n", st.Canary, st.Gateways, st.Sent, st.Failed)
	if len(st.Faults) == 0 {
		fmt.Fprintln(w, "faults: none")
	}
	for name, f := range st.Faults {
		fmt.Fprintf(w, "fault: %s fails %.0f%% of requests, delay %s\n", name, 100*f.ErrorRate, f.Delay)
	}
	return nil
}

func newDemoFaultCommand() *cobra.Command {
	var (
		c     control
		f     demo.Fault
		clear bool
	)
	cmd := &cobra.Command{
		Use:   "fault WORKLOAD",
		Short: "Make a workload of the running demo fail or slow down (reviews-v1, reviews-v2, ratings-1, ratings-2, frontend)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if clear {
				f = demo.Fault{}
			} else if f == (demo.Fault{}) {
				return errors.New("give --error-rate and/or --delay, or --clear")
			}
			return c.post(cmd.Context(), cmd.OutOrStdout(), "/faults/"+args[0], f)
		},
	}
	c.bind(cmd)
	cmd.Flags().Float64Var(&f.ErrorRate, "error-rate", 0, "share of requests that fail, 0 to 1 (HTTP 503, gRPC UNAVAILABLE)")
	cmd.Flags().DurationVar(&f.Delay, "delay", 0, "added to every request, such as 300ms")
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the workload's fault")
	return cmd
}

func newDemoCanaryCommand() *cobra.Command {
	var c control
	cmd := &cobra.Command{
		Use:   "canary PERCENT",
		Short: "Send PERCENT of reviews' traffic to v2 (rewrites the HTTPRoute; the control plane applies it within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pct, err := strconv.Atoi(args[0])
			if err != nil || pct < 0 || pct > 100 {
				return fmt.Errorf("canary %q: want a percentage from 0 to 100", args[0])
			}
			return c.post(cmd.Context(), cmd.OutOrStdout(), "/canary/"+args[0], nil)
		},
	}
	c.bind(cmd)
	return cmd
}

func newDemoGatewayCommand() *cobra.Command {
	var c control
	cmd := &cobra.Command{
		Use:   "gateway CLUSTER stop|start",
		Short: "Stop or start a cluster's east-west gateway in the running demo",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "stop" && args[1] != "start" {
				return fmt.Errorf("%q: use stop or start", args[1])
			}
			return c.post(cmd.Context(), cmd.OutOrStdout(), "/gateways/"+args[0]+"/"+args[1], nil)
		},
	}
	c.bind(cmd)
	return cmd
}
