// Command plexus-proxy is the Plexus data plane: the sidecar beside each
// workload, the east-west gateway between clusters, and the init step that
// sets up traffic interception.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "plexus-proxy",
		Short: "The Plexus data-plane proxy",
		Long: `plexus-proxy carries a workload's traffic inside the Plexus mesh.
It is configured by the control plane over xDS and encrypts every hop with
SPIFFE mTLS.`,
		SilenceUsage: true,
	}
	root.AddCommand(newSidecarCommand(), newGatewayCommand(), newInitCommand(), version.Command("plexus-proxy"))
	return root
}

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
