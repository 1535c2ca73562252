package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/plexus-mesh/plexus/internal/monitoring"
)

// startPrometheus runs Prometheus, with the mesh's rules, scraping both
// control planes and every proxy (each labelled with its cluster), and
// Alertmanager receiving its alerts. Neither is required.
func (d *run) startPrometheus(ctx context.Context) error {
	if d.o.Prometheus == "" {
		return nil
	}
	p := d.plan
	dir := filepath.Join(d.o.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	o := monitoring.StaticOptions()
	o.ScrapeInterval = 5 * time.Second
	rules, err := monitoring.RuleFile(o)
	if err != nil {
		return err
	}
	ruleFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(ruleFile, rules, 0o600); err != nil {
		return err
	}
	setup := monitoring.PrometheusSetup{RuleFiles: []string{ruleFile}, EvaluationInterval: 5 * time.Second}
	for _, c := range d.clusters() {
		setup.ControlPlanes = append(setup.ControlPlanes, monitoring.Target{Address: p.Addr(p.Host(c.net, 1), offOperatorMet),
			Namespace: "plexus-system", Pod: "plexus-operator-" + c.name, Cluster: c.name})
		setup.Proxies = append(setup.Proxies, monitoring.Target{Address: p.Addr(p.Host(c.net, 2), offAdmin),
			Namespace: "plexus-system", Pod: "east-west-gateway-" + c.name, Cluster: c.name})
	}
	for _, w := range workloads {
		cluster := "east"
		if w.net == westNet {
			cluster = "west"
		}
		setup.Proxies = append(setup.Proxies, monitoring.Target{Address: p.Addr(p.Host(w.net, w.n), offAdmin), Namespace: "shop", Pod: w.name, Cluster: cluster})
	}
	if d.o.Alertmanager != "" {
		setup.Alertmanagers = []string{p.Local(offAlertmanager)}
		amConfig := filepath.Join(dir, "alertmanager.yml")
		if err := os.WriteFile(amConfig, []byte("route: {receiver: demo, group_wait: 5s, group_interval: 10s}\nreceivers: [{name: demo}]\n"), 0o600); err != nil {
			return err
		}
		if err := d.procs.start("alertmanager", d.o.Alertmanager, "--config.file="+amConfig, "--storage.path="+filepath.Join(dir, "alertmanager"),
			"--web.listen-address="+p.Local(offAlertmanager), "--cluster.listen-address="); err != nil {
			return err
		}
	}
	cfg, err := monitoring.PrometheusConfig(o, setup)
	if err != nil {
		return err
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		return err
	}
	if err := d.procs.start("prometheus", d.o.Prometheus, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.Local(offPrometheus), "--storage.tsdb.retention.time=2h"); err != nil {
		return err
	}
	for name, url := range map[string]string{"prometheus": "http://" + p.Local(offPrometheus) + "/-/ready", "alertmanager": "http://" + p.Local(offAlertmanager) + "/-/ready"} {
		if name == "alertmanager" && d.o.Alertmanager == "" {
			continue
		}
		if err := waitFor(ctx, name, 60*time.Second, func() error { return httpOK(ctx, url) }); err != nil {
			return fmt.Errorf("%w\nthe end of its log:\n%s", err, d.procs.logTail(name))
		}
	}
	return nil
}

func (d *run) urls() URLs {
	p := d.plan
	u := URLs{EastDashboard: "http://" + p.Local(offDashboard) + "/", WestDashboard: "http://" + p.Local(offDashboard+1) + "/",
		Control: "http://" + p.Local(offControl) + "/status"}
	if d.o.Prometheus != "" {
		u.Prometheus = "http://" + p.Local(offPrometheus) + "/"
	}
	if d.o.Alertmanager != "" {
		u.Alertmanager = "http://" + p.Local(offAlertmanager) + "/"
	}
	u.Metrics = []string{
		"http://" + p.Addr(p.Host(eastNet, 1), offOperatorMet) + "/metrics",
		"http://" + p.Addr(p.Host(westNet, 1), offOperatorMet) + "/metrics",
		"http://" + p.Addr(p.Host(eastNet, 11), offAdmin) + "/metrics",
	}
	return u
}

// banner tells the user what runs, where, and what to try.
func (d *run) banner(u URLs) {
	out := d.o.Out
	fmt.Fprintf(out, `
Plexus demo: two clusters, east and west, federated, mTLS everywhere.
  east: loadgen -> frontend -> reviews (90%% v1, 10%% v2 canary) and -> ratings (in west, over gRPC, through west's gateway)
  west: ratings (2 instances), exported

Open:
  mesh dashboard (east)   %s
  mesh dashboard (west)   %s
`, u.EastDashboard, u.WestDashboard)
	if u.Prometheus != "" {
		fmt.Fprintf(out, "  Prometheus              %s\n", u.Prometheus)
	} else {
		fmt.Fprintln(out, "  Prometheus              not found: the dashboards read the proxies' metrics directly")
	}
	if u.Alertmanager != "" {
		fmt.Fprintf(out, "  Alertmanager            %s\n", u.Alertmanager)
	}
	fmt.Fprintf(out, "  control plane metrics   %s\n                          %s\n  a proxy's metrics       %s\n", u.Metrics[0], u.Metrics[1], u.Metrics[2])
	server := "http://" + d.plan.Local(offDashboard)
	fmt.Fprintf(out, `
Try (in another terminal):
  plexctl status --server %[1]s                 what east runs, its peer, its proxies
  plexctl top --server %[1]s --watch 2s         golden signals per service
  plexctl check --server %[1]s                  misconfigurations
  plexctl proxy-config frontend.shop --server %[1]s
  plexctl demo fault reviews-v2 --error-rate 0.5   fail half of v2's requests: its edge turns red
  plexctl demo fault ratings-1 --error-rate 1      west fails; retries and outlier detection keep frontend up
  plexctl demo canary 50                           send half of reviews to v2
  plexctl demo gateway west stop                   cut west off: ratings fails, then: plexctl demo gateway west start
  plexctl demo fault reviews-v2 --clear

Press Ctrl-C to stop; everything stops with it.
`, server)
}
