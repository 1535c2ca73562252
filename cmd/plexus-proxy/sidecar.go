package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar"
)

func newSidecarCommand() *cobra.Command {
	var (
		o           = sidecar.Options{AdminAddress: "127.0.0.1:15000", DrainTimeout: 30 * time.Second}
		ports       string
		upstreams   string
		logLevel    string
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "sidecar",
		Short: "Run the proxy beside a workload",
		Long: `sidecar carries a workload's traffic. It takes its configuration from the
control plane over xDS (--xds-address), or from the static resources of a
--bootstrap file, or both. On SIGTERM it stops accepting connections and lets
requests in flight finish for up to --drain-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			o.Log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			p, err := nodemeta.ParsePorts(ports)
			if err != nil {
				return fmt.Errorf("--app-ports: %w", err)
			}
			o.Workload.Ports = p
			o.Workload.MetricsAddress = cmp.Or(o.StatusAddress, o.AdminAddress)
			if o.Workload.Upstreams, err = nodemeta.ParseUpstreams(upstreams, o.Workload.Namespace, netip.AddrFrom4([4]byte{127, 0, 0, 1})); err != nil {
				return fmt.Errorf("--upstreams: %w", err)
			}
			if o.Workload.Interception == nodemeta.InterceptionIPTables {
				o.Workload.Interception = ""
			}
			if err := o.Workload.ValidateInterception(); err != nil {
				return fmt.Errorf("--interception, --app-address, --upstreams: %w", err)
			}
			if err := adminClash(o); err != nil {
				return err
			}
			if _, err := model.ParseEgress(o.Workload.Egress, o.Workload.Namespace); err != nil {
				return fmt.Errorf("--egress: %w", err)
			}
			if o.Workload.MTLSMode != "" {
				if _, err := model.ParseMTLSMode(o.Workload.MTLSMode); err != nil {
					return fmt.Errorf("--mtls-mode: %w", err)
				}
			}
			if concurrency < 0 {
				return fmt.Errorf("--concurrency %d: use 0 (follow the CPU limit) or a positive number of threads", concurrency)
			}
			if concurrency > 0 {
				runtime.GOMAXPROCS(concurrency)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return sidecar.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.BootstrapFile, "bootstrap", "", "bootstrap file (YAML): node, xds.address and static_resources")
	f.StringVar(&o.XDSAddress, "xds-address", "", "control plane address: host:port, or unix:///path")
	f.StringVar(&o.NodeID, "node-id", "", "name of this proxy at the control plane (for example <pod>.<namespace>)")
	f.StringVar(&o.Workload.Workload, "workload", "", "workload name (Deployment, StatefulSet...)")
	f.StringVar(&o.Workload.Namespace, "namespace", "", "workload namespace")
	f.StringVar(&o.Workload.ServiceAccount, "service-account", "", "workload service account")
	f.StringVar(&o.Workload.Cluster, "cluster", "", "name of the cluster the workload runs in")
	f.StringVar(&o.Workload.IP, "ip", "", "address peers reach this proxy on")
	f.StringToStringVar(&o.Workload.Labels, "labels", nil, "workload labels, such as app=reviews,version=v1; in local mode Services select proxies by them")
	f.StringVar(&o.Workload.Egress, "egress", "", "services this workload calls, NAMESPACE/SERVICE patterns such as ./*,billing/payments; the proxy then receives only those (default: every service it may see)")
	f.StringVar(&o.Workload.MTLSMode, "mtls-mode", "", "override the namespace's mTLS mode for this workload: STRICT or PERMISSIVE (local mode; in Kubernetes use the pod annotation mesh.plexus.dev/mtls-mode)")
	f.StringVar(&ports, "app-ports", "", "ports the application serves, such as 8080/http,9090/grpc")
	f.StringVar(&o.Workload.Interception, "interception", nodemeta.InterceptionIPTables, "how traffic reaches the proxy: iptables (plexus-proxy init redirects it) or none (inbound on --ip at each app port, delivered to --app-address; the application calls --upstreams)")
	f.StringVar(&o.Workload.AppAddress, "app-address", "", "with --interception none: the address the application listens on (its app ports), such as 127.0.2.1; not --ip")
	f.StringVar(&upstreams, "upstreams", "", "with --interception none: services the application calls at local (loopback) addresses, NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT,... (IP defaults to 127.0.0.1), such as shop/reviews:9080=19080")
	f.StringVar(&o.AdminAddress, "admin-address", o.AdminAddress, "admin API address: /ready, /metrics, /config_dump, /stats")
	f.StringVar(&o.StatusAddress, "status-address", "", "address serving only /ready and /metrics, for kubelet probes and Prometheus (for example :15020); off by default")
	identityFlags(f, &o.Identity)
	f.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "how long requests in flight may finish after SIGTERM")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.IntVar(&concurrency, "concurrency", 0, "threads running Go code (GOMAXPROCS); 0 follows the container's CPU limit. 1 costs the least CPU per request at moderate load")
	return cmd
}

// adminClash refuses an upstream on the admin or status address.
func adminClash(o sidecar.Options) error {
	for _, u := range o.Workload.Upstreams {
		for flag, addr := range map[string]string{"--admin-address": o.AdminAddress, "--status-address": o.StatusAddress} {
			if ap, err := netip.ParseAddrPort(addr); err == nil && ap == u.Bind {
				return fmt.Errorf("--upstreams: %s listens on %s, the %s: choose another port", u, ap, flag)
			}
		}
	}
	return nil
}

// identityFlags bind where a proxy's certificate comes from.
func identityFlags(f *pflag.FlagSet, o *sidecar.IdentityOptions) {
	f.StringVar(&o.CAAddress, "ca-address", "", "certificate service (host:port) to obtain this proxy's workload certificate from; the proxy then talks to the control plane over mutual TLS with it. Unset, certificates come from xDS or the bootstrap, and xDS is plaintext")
	f.StringVar(&o.CARootFile, "ca-root-file", "", "PEM roots that verify the control plane: the certificate service and xDS")
	f.StringVar(&o.WorkloadAPI, "spiffe-socket", "", "SPIFFE Workload API address (a SPIRE agent), such as unix:///run/spire/agent-sockets/spire-agent.sock, to take certificates from instead of --ca-address")
	f.StringVar(&o.CredentialFile, "credential-file", "", "file holding this proxy's proof of identity: a projected ServiceAccount token (audience plexus) or a join token")
}
