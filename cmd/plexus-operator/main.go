// Command plexus-operator is the Plexus control plane: it reconciles the
// mesh's resources and, as later parts land, serves xDS, the CA, the sidecar
// injector, federation and the mesh dashboard.
package main

import (
	"flag"
	"os"

	"log/slog"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plexus-mesh/plexus/internal/version"
)

func newRootCommand() *cobra.Command {
	cfg := defaultConfig()
	zapOpts := zap.Options{}
	var localDir string
	root := &cobra.Command{
		Use:   "plexus-operator",
		Short: "The Plexus control plane",
		Long: `plexus-operator runs the Plexus control plane in a Kubernetes cluster.
It reads its kubeconfig from --kubeconfig, $KUBECONFIG, the in-cluster
service account, or ~/.kube/config, in that order.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			if err := cfg.validateXDSMode(); err != nil {
				return err
			}
			if localDir != "" {
				log := slog.New(logr.ToSlogHandler(ctrl.Log))
				return runLocal(ctrl.SetupSignalHandler(), localDir, cfg, log)
			}
			restConfig, err := ctrl.GetConfig()
			if err != nil {
				return err
			}
			return run(ctrl.SetupSignalHandler(), restConfig, cfg)
		},
	}
	cfg.bindFlags(root.Flags())
	root.Flags().StringVar(&localDir, "local", "", "run without Kubernetes: read the mesh (Mesh, Services, TrafficPolicies, HTTPRoutes, GRPCRoutes) from the YAML files in this directory")
	goFlags := flag.NewFlagSet("", flag.ContinueOnError)
	zapOpts.BindFlags(goFlags)
	ctrl.RegisterFlags(goFlags) // --kubeconfig
	root.Flags().AddGoFlagSet(goFlags)
	root.AddCommand(version.Command("plexus-operator"))
	return root
}

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
