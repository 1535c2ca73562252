package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/dashboard"
)

func newTopCommand(api *apiFlags) *cobra.Command {
	var (
		window string
		edges  bool
		watch  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show each service's golden signals: requests, errors, latency",
		Long: `top lists the services of the mesh by request rate, with their error rate and
p50 and p99 latency over the window, as their callers' proxies measured them.
--edges lists each caller and service pair instead; --watch refreshes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.check(); err != nil {
				return err
			}
			if _, err := time.ParseDuration(window); err != nil {
				return fmt.Errorf("--window %q: want a duration such as 1m", window)
			}
			for {
				var t dashboard.Topology
				_, err := api.get(cmd.Context(), "/api/topology?window="+window, &t)
				out := cmd.OutOrStdout()
				switch {
				case err != nil && watch <= 0:
					return err
				case err != nil:
					// Watching rides out a control plane restart.
					fmt.Fprintf(cmd.ErrOrStderr(), "%v (retrying in %s)\n", err, watch)
				default:
					if watch > 0 && api.output == "table" {
						fmt.Fprint(out, "\033[H\033[2J") // clear the terminal
					}
					if err := printTop(api, out, t, edges); err != nil || watch <= 0 {
						return err
					}
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(watch):
				}
			}
		},
	}
	cmd.Flags().StringVar(&window, "window", "1m", "window the rates and latencies are over")
	cmd.Flags().BoolVar(&edges, "edges", false, "list caller → service pairs instead of services")
	cmd.Flags().DurationVar(&watch, "watch", 0, "refresh this often (such as 2s) until interrupted")
	return cmd
}

func printTop(api *apiFlags, w io.Writer, t dashboard.Topology, edges bool) error {
	if edges {
		list := slices.Clone(t.Edges)
		slices.SortFunc(list, func(a, b dashboard.Edge) int {
			return cmp.Or(cmp.Compare(b.Signals.RPS, a.Signals.RPS), strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target))
		})
		return api.print(w, list, func(tw *tabwriter.Writer) {
			header(tw, t)
			fmt.Fprintln(tw, "SOURCE\tTARGET\tVIA\tRPS\tERRORS\tP50\tP99\tHEALTH")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", short(e.Source), short(e.Target), cmp.Or(short(e.Via), "-"), signals(e.Signals, e.Health))
			}
		})
	}
	var services []dashboard.Node
	for _, n := range t.Nodes {
		if n.Kind == dashboard.KindService {
			services = append(services, n)
		}
	}
	slices.SortFunc(services, func(a, b dashboard.Node) int {
		return cmp.Or(cmp.Compare(b.Signals.RPS, a.Signals.RPS), strings.Compare(a.ID, b.ID))
	})
	return api.print(w, services, func(tw *tabwriter.Writer) {
		header(tw, t)
		fmt.Fprintln(tw, "SERVICE\tCLUSTER\tENDPOINTS\tRPS\tERRORS\tP50\tP99\tHEALTH")
		for _, n := range services {
			fmt.Fprintf(tw, "%s/%s\t%s\t%d/%d\t%s\n", n.Namespace, n.Name, n.Cluster, n.HealthyEndpoints, n.Endpoints, signals(n.Signals, n.Health))
		}
	})
}

func header(tw *tabwriter.Writer, t dashboard.Topology) {
	source := cmp.Or(t.Source, "none")
	fmt.Fprintf(tw, "cluster %s · window %s · signals from %s", t.Cluster, t.Window, source)
	if t.SourceError != "" {
		fmt.Fprintf(tw, " (error: %s)", t.SourceError)
	}
	fmt.Fprint(tw, "\n\n")
}

func signals(s dashboard.Signals, health string) string {
	return fmt.Sprintf("%.1f\t%.1f%%\t%s\t%s\t%s", s.RPS, 100*s.ErrorRate, ms(s.P50), ms(s.P99), health)
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// short drops the kind from a node ID: service:east/shop/reviews →
// east/shop/reviews.
func short(id string) string {
	if _, rest, ok := strings.Cut(id, ":"); ok {
		return rest
	}
	return id
}
