package main

import (
	"cmp"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/dashboard"
)

func newStatusCommand(api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the mesh, its peers, connected proxies and refused configurations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.check(); err != nil {
				return err
			}
			var st dashboard.Status
			if _, err := api.get(cmd.Context(), "/api/status", &st); err != nil {
				return err
			}
			return api.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) { statusTable(tw, st) })
		},
	}
}

func statusTable(tw *tabwriter.Writer, st dashboard.Status) {
	fmt.Fprintf(tw, "MESH\tCLUSTER %s\tTRUST DOMAIN %s\tmTLS %s\tSERVICES %d\tIMPORTED %d\n", st.Cluster, st.TrustDomain, st.MTLS, st.Services, st.Imported)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "PEER\tCLUSTER\tTRUST DOMAIN\tCONNECTED\tIMPORTS\tLAST SYNC\tERROR")
	if len(st.Peers) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	for _, p := range st.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%d\t%s\t%s\n", p.Name, p.Cluster, p.TrustDomain, p.Connected, p.Imports, ago(p.LastSync), p.Error)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "PROXY\tROLE\tWORKLOAD\tNAMESPACE\tIP\tINTERCEPTION\tIDENTITY")
	if len(st.Proxies) == 0 {
		fmt.Fprintln(tw, "(none connected)")
	}
	for _, p := range st.Proxies {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Role, cmp.Or(p.Workload, "-"), cmp.Or(p.Namespace, "-"), cmp.Or(p.IP, "-"), p.Interception, cmp.Or(p.Identity, "-"))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NACK\tTYPE\tWHEN\tMESSAGE")
	if len(st.NACKs) == 0 {
		fmt.Fprintln(tw, "(none: every proxy took its configuration)")
	}
	for _, n := range st.NACKs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Proxy, n.Type, ago(n.At), n.Message)
	}
	for _, p := range st.ImportProblems {
		fmt.Fprintf(tw, "\nimport problem: %s\n", p)
	}
}

// ago writes how long ago t was, "-" for never.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Truncate(time.Second).String() + " ago"
}
