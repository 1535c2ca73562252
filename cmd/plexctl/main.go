// Command plexctl is the Plexus command-line tool: it inspects and operates
// a mesh and runs the local demo.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:          "plexctl",
		Short:        "Inspect and operate a Plexus mesh",
		SilenceUsage: true,
	}
	api := &apiFlags{}
	inspect := []*cobra.Command{newStatusCommand(api), newCheckCommand(api), newTopCommand(api), newProxyConfigCommand(api)}
	for _, c := range inspect {
		api.bind(c)
	}
	root.AddCommand(version.Command("plexctl"), newJoinTokenCommand(), newDemoCommand())
	root.AddCommand(inspect...)
	return root
}

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
