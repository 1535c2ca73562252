package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar"
)

func newGatewayCommand() *cobra.Command {
	var (
		o = sidecar.Options{AdminAddress: "127.0.0.1:15000", DrainTimeout: 30 * time.Second, Workload: nodemeta.Metadata{
			Workload: "plexus-east-west-gateway", Namespace: "plexus-system", ServiceAccount: "plexus-east-west-gateway", Role: nodemeta.RoleGateway,
		}}
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run an east-west gateway between clusters",
		Long: `gateway takes connections from peer clusters on port 15443 and passes each,
still encrypted, to a local sidecar of the exported service its TLS server name
names (outbound.<port>.<service>.<namespace>.svc.clusterset.local). It never
terminates the sidecars' mTLS. A server name that is not an exported service
port is refused. Its listener and routes come from the control plane
(--xds-address), over mutual TLS with the certificate it gets from the
certificate service (--ca-address), which it uses for nothing else.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			o.Log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if o.XDSAddress == "" {
				return fmt.Errorf("--xds-address is required: a gateway's configuration comes from the control plane")
			}
			o.Workload.MetricsAddress = cmp.Or(o.StatusAddress, o.AdminAddress)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return sidecar.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.XDSAddress, "xds-address", "", "control plane address: host:port, or unix:///path")
	f.StringVar(&o.NodeID, "node-id", "", "name of this gateway at the control plane (for example <pod>.<namespace>)")
	f.StringVar(&o.Workload.Namespace, "namespace", o.Workload.Namespace, "namespace the gateway runs in")
	f.StringVar(&o.Workload.ServiceAccount, "service-account", o.Workload.ServiceAccount, "service account the gateway runs as")
	f.StringVar(&o.Workload.Cluster, "cluster", "", "name of this cluster")
	f.StringVar(&o.Workload.IP, "ip", "", "address to take peer connections on (port 15443); default: every address")
	f.StringVar(&o.AdminAddress, "admin-address", o.AdminAddress, "admin API address: /ready, /metrics, /config_dump, /stats")
	f.StringVar(&o.StatusAddress, "status-address", "", "address serving only /ready and /metrics (for example :15020); off by default")
	identityFlags(f, &o.Identity)
	f.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "how long connections in flight may finish after SIGTERM")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
