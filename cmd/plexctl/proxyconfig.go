package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plexus-mesh/plexus/internal/dashboard"
)

// proxyConfig is what the control plane sends a proxy (xDS resources).
type proxyConfig struct {
	Node      string             `json:"node"`
	Versions  map[string]string  `json:"versions"`
	Clusters  []map[string]any   `json:"clusters"`
	Endpoints []map[string]any   `json:"endpoints"`
	Listeners []map[string]any   `json:"listeners"`
	Routes    []map[string]any   `json:"routes"`
	Secrets   []dashboard.Secret `json:"secrets"`
}

func newProxyConfigCommand(api *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "proxy-config PROXY",
		Short: "Show the configuration the control plane sends a proxy",
		Long: `proxy-config shows the listeners, routes, clusters and endpoints the control
plane sends one connected proxy (its node ID, as plexctl status lists them),
and the certificates it holds. -o json or -o yaml give every field.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.check(); err != nil {
				return err
			}
			raw, err := api.get(cmd.Context(), "/api/proxies/"+url.PathEscape(args[0])+"/config", nil)
			if err != nil {
				return err
			}
			var pc proxyConfig
			if err := json.Unmarshal(raw, &pc); err != nil {
				return err
			}
			var full any
			_ = json.Unmarshal(raw, &full)
			return api.print(cmd.OutOrStdout(), full, func(tw *tabwriter.Writer) { proxyConfigTable(tw, pc) })
		},
	}
}

func proxyConfigTable(tw *tabwriter.Writer, pc proxyConfig) {
	fmt.Fprintf(tw, "PROXY %s\tversions: listeners %s, routes %s, clusters %s, endpoints %s\n\n", pc.Node,
		pc.Versions["listeners"], pc.Versions["routes"], pc.Versions["clusters"], pc.Versions["endpoints"])
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tDIRECTION\tCHAINS")
	for _, l := range pc.Listeners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", str(l, "name"), address(l["address"]), str(l, "trafficDirection"), len(list(l, "filterChains")))
	}
	fmt.Fprintln(tw, "\nROUTE CONFIG\tVIRTUAL HOSTS\tDOMAINS (first)")
	for _, r := range pc.Routes {
		vhs := list(r, "virtualHosts")
		first := ""
		if len(vhs) > 0 {
			if vh, ok := vhs[0].(map[string]any); ok {
				if d := list(vh, "domains"); len(d) > 0 {
					first = fmt.Sprint(d[0])
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", str(r, "name"), len(vhs), first)
	}
	fmt.Fprintln(tw, "\nCLUSTER\tTYPE\tLB\tmTLS\tSNI")
	for _, c := range pc.Clusters {
		ts, _ := c["transportSocket"].(map[string]any)
		sni := ""
		if tc, ok := ts["typedConfig"].(map[string]any); ok {
			sni = str(tc, "sni")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", str(c, "name"), str(c, "type"), str(c, "lbPolicy"), ts != nil, sni)
	}
	fmt.Fprintln(tw, "\nSECRET\tKIND\tIDENTITY / TRUST DOMAIN\tSOURCE")
	for _, s := range pc.Secrets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Kind, orDefault(s.Identity, s.TrustDomain), s.Source)
	}
	fmt.Fprintln(tw, "\nENDPOINTS OF\tPRIORITY\tADDRESS\tHEALTH")
	for _, e := range pc.Endpoints {
		for _, loc := range list(e, "endpoints") {
			lm, ok := loc.(map[string]any)
			if !ok {
				continue
			}
			for _, lb := range list(lm, "lbEndpoints") {
				le, ok := lb.(map[string]any)
				if !ok {
					continue
				}
				ep, _ := le["endpoint"].(map[string]any)
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", str(e, "clusterName"), orZero(lm["priority"]), address(ep["address"]), orDefault(str(le, "healthStatus"), "HEALTHY"))
			}
		}
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func list(m map[string]any, k string) []any {
	l, _ := m[k].([]any)
	return l
}

// address writes an xDS socket address as host:port.
func address(v any) string {
	a, _ := v.(map[string]any)
	sa, _ := a["socketAddress"].(map[string]any)
	if sa == nil {
		return "-"
	}
	return fmt.Sprintf("%s:%v", str(sa, "address"), orZero(sa["portValue"]))
}

func orZero(v any) any {
	if v == nil {
		return 0
	}
	return v
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
