package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/sidecar/intercept"
)

func newInitCommand() *cobra.Command {
	var (
		c                              = intercept.Config{ProxyUID: -1}
		inbound, excludeIn, excludeOut string
		excludeCIDRs, includeCIDRs     string
		remove, dryRun                 bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Redirect the pod's TCP traffic to the sidecar (iptables)",
		Long: `init installs the iptables NAT rules that send a pod's inbound and outbound
TCP connections through the sidecar. It runs once, as an init container with
CAP_NET_ADMIN, before the application starts. --remove takes the rules out
again. --dry-run prints them (iptables-restore format) instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if remove {
				return intercept.Remove(cmd.Context())
			}
			var err error
			var errs []error
			if c.InboundPorts, err = intercept.ParsePorts(inbound); err != nil {
				errs = append(errs, fmt.Errorf("--inbound-ports: %w", err))
			}
			if c.ExcludeInboundPorts, err = intercept.ParsePorts(excludeIn); err != nil {
				errs = append(errs, fmt.Errorf("--exclude-inbound-ports: %w", err))
			}
			if c.ExcludeOutboundPorts, err = intercept.ParsePorts(excludeOut); err != nil {
				errs = append(errs, fmt.Errorf("--exclude-outbound-ports: %w", err))
			}
			if c.ExcludeOutboundCIDRs, err = intercept.ParseCIDRs(excludeCIDRs); err != nil {
				errs = append(errs, fmt.Errorf("--exclude-outbound-cidrs: %w", err))
			}
			if c.IncludeOutboundCIDRs, err = intercept.ParseCIDRs(includeCIDRs); err != nil {
				errs = append(errs, fmt.Errorf("--include-outbound-cidrs: %w", err))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if c.ProxyUID < 0 {
				return errors.New("--proxy-uid is required: the proxy's own connections must not be redirected back to it")
			}
			if dryRun {
				if err := c.Validate(); err != nil {
					return err
				}
				_, err := fmt.Fprint(cmd.OutOrStdout(), intercept.Rules(c))
				return err
			}
			return intercept.Apply(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.ProxyUID, "proxy-uid", c.ProxyUID, "UID the sidecar runs as (its traffic is not redirected)")
	f.IntVar(&c.ProxyGID, "proxy-gid", 0, "GID whose traffic is not redirected either (optional)")
	f.IntVar(&c.InboundPort, "inbound-capture-port", 15006, "sidecar port that receives redirected inbound connections")
	f.IntVar(&c.OutboundPort, "outbound-capture-port", 15001, "sidecar port that receives redirected outbound connections")
	f.StringVar(&inbound, "inbound-ports", "", "redirect only these inbound ports (default: all but the excluded ones)")
	f.StringVar(&excludeIn, "exclude-inbound-ports", "", "inbound ports never redirected, such as health check or admin ports")
	f.StringVar(&excludeOut, "exclude-outbound-ports", "", "outbound ports never redirected")
	f.StringVar(&excludeCIDRs, "exclude-outbound-cidrs", "", "destinations reached directly, such as 169.254.169.254/32")
	f.StringVar(&includeCIDRs, "include-outbound-cidrs", "", "redirect only connections to these destinations (default: all)")
	f.BoolVar(&remove, "remove", false, "remove the rules instead of installing them")
	f.BoolVar(&dryRun, "dry-run", false, "print the rules instead of installing them")
	return cmd
}
