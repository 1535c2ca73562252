package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/dashboard"
)

// errChecksFailed makes plexctl check exit non-zero when a check fails.
var errChecksFailed = errors.New("some checks failed: see above")

func newCheckCommand(api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Look for common misconfigurations, each with how to fix it",
		Long: `check asks the control plane to look for what most often goes wrong: services
without endpoints or without sidecars, routes and policies that do not apply,
peers that are not connected, exports no gateway carries, configurations
proxies refused, upstreams that name no service. It exits 1 when an error is
found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.check(); err != nil {
				return err
			}
			var checks []dashboard.Check
			if _, err := api.get(cmd.Context(), "/api/check", &checks); err != nil {
				return err
			}
			failed := false
			for _, c := range checks {
				failed = failed || c.Status == dashboard.CheckError
			}
			err := api.print(cmd.OutOrStdout(), checks, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "STATUS\tCHECK\tFINDING\tFIX")
				for _, c := range checks {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, c.Name, c.Message, c.Fix)
				}
			})
			if err == nil && failed {
				return errChecksFailed
			}
			return err
		},
	}
}
