package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/dashboard"
	"github.com/plexus-mesh/plexus/internal/identity"
)

// Options configure a demo run.
type Options struct {
	// BinDir holds plexus-operator and plexus-proxy.
	BinDir string
	// Dir keeps the clusters' configuration, CAs and logs; "" makes a
	// temporary one, removed at the end.
	Dir string
	// Base is the first of the 100 ports the demo uses (default 17400).
	Base int
	// Duration stops the demo after that long; 0 runs until ctx ends.
	Duration time.Duration
	// RPS is the traffic generator's request rate (default 20).
	RPS int
	// Prometheus and Alertmanager are their binaries; "" runs without.
	Prometheus, Alertmanager string
	// Out receives what the user reads: URLs, what to try, progress.
	Out io.Writer
}

// DefaultBase is the default first port.
const DefaultBase = 17400

// URLs are what the demo serves the user.
type URLs struct {
	EastDashboard, WestDashboard string
	Prometheus, Alertmanager     string
	Control                      string
	// Metrics are the control planes' and a proxy's /metrics.
	Metrics []string
}

// Run runs the demo until ctx ends or Duration passes, then stops every
// part of it. ready, when not nil, receives the URLs once the mesh
// serves traffic.
func Run(ctx context.Context, o Options, ready func(URLs)) (err error) {
	if o.Base == 0 {
		o.Base = DefaultBase
	}
	if o.RPS == 0 {
		o.RPS = 20
	}
	if o.RPS < 1 || o.RPS > 1000 {
		return fmt.Errorf("--rps %d: choose 1 to 1000 requests per second", o.RPS)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	d := &run{o: o, plan: Plan{Base: o.Base}, faults: &faults{}, canary: 10}
	for _, bin := range []string{"plexus-operator", "plexus-proxy"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, bin)); err != nil {
			return fmt.Errorf("%s not found in %s: build it first (make build), or point --bin-dir at it", bin, o.BinDir)
		}
	}
	if err := d.plan.check(d.addresses()); err != nil {
		return err
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "plexus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
		d.o.Dir = dir
	}
	d.procs = newProcs(o.Dir)
	d.apps = &apps{faults: d.faults}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer d.stop()
	if err := d.start(ctx); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(o.Out, "\nstopped before the mesh was ready")
			return nil
		}
		return err
	}
	urls := d.urls()
	d.banner(urls)
	if ready != nil {
		ready(urls)
	}
	var timeout <-chan time.Time
	if o.Duration > 0 {
		timeout = time.After(o.Duration)
	}
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(o.Out, "\nstopping the demo...")
			return nil
		case <-timeout:
			fmt.Fprintf(o.Out, "\nthe demo ran for %s; stopping it...\n", o.Duration)
			return nil
		case name := <-d.procs.exited:
			// A program the demo stops (a gateway, on request) is not
			// reported: procs.stop forgets it first.
			return fmt.Errorf("%s stopped on its own; the end of its log:\n%s", name, d.procs.logTail(name))
		}
	}
}

// run is one demo run's state.
type run struct {
	o          Options
	plan       Plan
	procs      *procs
	apps       *apps
	faults     *faults
	load       loadgen
	east, west *cluster
	control    *http.Server
	// mu guards canary, and serializes the control API's changes.
	mu       sync.Mutex
	canary   int
	stopLoad context.CancelFunc
}

func (d *run) clusters() []*cluster { return []*cluster{d.east, d.west} }

// addresses are every address the demo listens on, checked free first.
func (d *run) addresses() []string {
	p := d.plan
	out := []string{p.Local(offDashboard), p.Local(offDashboard + 1), p.Local(offControl)}
	if d.o.Prometheus != "" {
		out = append(out, p.Local(offPrometheus))
	}
	if d.o.Alertmanager != "" {
		out = append(out, p.Local(offAlertmanager))
	}
	for _, c := range []int{eastNet, westNet} {
		for _, off := range []int{offXDS, offCA, offOperatorMet, offFederation, offBundle} {
			out = append(out, p.Addr(p.Host(c, 1), off))
		}
		out = append(out, p.Addr(p.Host(c, 2), offGateway), p.Addr(p.Host(c, 2), offAdmin))
	}
	for _, w := range workloads {
		h := p.Host(w.net, w.n)
		out = append(out, p.Addr(h, offAdmin))
		if w.app != "" {
			out = append(out, p.Addr(h, w.port), p.Addr(p.Host(w.net, w.n+100), w.port))
		}
		for _, u := range w.upstreams {
			out = append(out, p.Addr(h, u.off))
		}
	}
	return out
}

func (d *run) start(ctx context.Context) error {
	d.east = &cluster{name: "east", td: "east.example", net: eastNet, dir: filepath.Join(d.o.Dir, "east")}
	d.west = &cluster{name: "west", td: "west.example", net: westNet, dir: filepath.Join(d.o.Dir, "west")}
	fmt.Fprintf(d.o.Out, "starting a two-cluster mesh in %s (logs there)\n", d.o.Dir)
	for _, c := range d.clusters() {
		if err := os.MkdirAll(c.configDir(), 0o700); err != nil {
			return err
		}
		if err := c.write("mesh", meshYAML(c, d.plan)); err != nil {
			return err
		}
	}
	if err := d.east.write("app", eastApp(d.plan)); err != nil {
		return err
	}
	if err := d.east.write("canary", canaryYAML(d.canary)); err != nil {
		return err
	}
	if err := d.west.write("app", westApp(d.plan)); err != nil {
		return err
	}
	for i, c := range d.clusters() {
		if err := d.startOperator(c, i); err != nil {
			return err
		}
	}
	roots := map[string][]byte{}
	for _, c := range d.clusters() {
		if err := waitFor(ctx, c.name+"'s control plane", 30*time.Second, func() error {
			if !d.procs.isRunning("operator-" + c.name) {
				return fmt.Errorf("it stopped:\n%s", d.procs.logTail("operator-"+c.name))
			}
			b, err := os.ReadFile(filepath.Join(c.caDir(), identity.FileRoots))
			roots[c.name] = b
			return err
		}); err != nil {
			return err
		}
	}
	if err := d.east.write("peer-west", peerYAML(d.west, d.plan, roots["west"])); err != nil {
		return err
	}
	if err := d.west.write("peer-east", peerYAML(d.east, d.plan, roots["east"])); err != nil {
		return err
	}
	fmt.Fprintln(d.o.Out, "control planes up; federating east and west; starting gateways and workloads")
	for _, c := range d.clusters() {
		if err := d.startGateway(c); err != nil {
			return err
		}
	}
	for _, w := range workloads {
		if err := d.startWorkload(w); err != nil {
			return err
		}
	}
	if err := d.startPrometheus(ctx); err != nil {
		return err
	}
	if err := d.serveControl(); err != nil {
		return err
	}
	for _, w := range workloads {
		admin := "http://" + d.plan.Addr(d.plan.Host(w.net, w.n), offAdmin) + "/ready"
		if err := waitFor(ctx, w.name+"'s proxy", 30*time.Second, func() error { return httpOK(ctx, admin) }); err != nil {
			return fmt.Errorf("%w\nthe end of its log:\n%s", err, d.procs.logTail(w.name))
		}
	}
	// The application answers once east imports west's ratings: wait for
	// the import first, so that no request fails for want of it (and
	// shows as errors for the first minute).
	if err := waitFor(ctx, "east importing west's ratings", 60*time.Second, func() error { return d.imported(ctx) }); err != nil {
		return fmt.Errorf("%w\nthe logs are in %s", err, d.o.Dir)
	}
	front := "http://" + d.plan.Addr(d.plan.Host(eastNet, 10), offUpstream) + "/"
	if err := waitFor(ctx, "the sample application end to end (east's frontend calling west's ratings)", 30*time.Second, func() error { return httpOK(ctx, front) }); err != nil {
		return fmt.Errorf("%w\nthe logs are in %s", err, d.o.Dir)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	d.stopLoad = stopLoad
	go d.load.run(loadCtx, front, d.o.RPS)
	return nil
}

func (d *run) startOperator(c *cluster, i int) error {
	p := d.plan
	h := p.Host(c.net, 1)
	args := []string{"--local", c.configDir(), "--ca-dir", c.caDir(), "--namespace", "plexus-system",
		"--xds-address", p.Addr(h, offXDS), "--ca-address", p.Addr(h, offCA), "--metrics-bind-address", p.Addr(h, offOperatorMet),
		"--federation-address", p.Addr(h, offFederation), "--bundle-address", p.Addr(h, offBundle),
		"--advertise-gateway", p.Addr(p.Host(c.net, 2), offGateway), "--dashboard-address", p.Local(offDashboard + i)}
	if d.o.Prometheus != "" {
		args = append(args, "--prometheus-url", "http://"+p.Local(offPrometheus))
	}
	return d.procs.start("operator-"+c.name, filepath.Join(d.o.BinDir, "plexus-operator"), args...)
}

func (d *run) startGateway(c *cluster) error {
	p := d.plan
	h := p.Host(c.net, 2)
	cred, err := c.joinToken("gateway", "plexus-system", "plexus-east-west-gateway")
	if err != nil {
		return err
	}
	return d.procs.start("gateway-"+c.name, filepath.Join(d.o.BinDir, "plexus-proxy"), append([]string{"gateway",
		"--xds-address", p.Addr(p.Host(c.net, 1), offXDS), "--node-id", "east-west-gateway.plexus-system", "--cluster", c.name,
		"--ip", h.String(), "--admin-address", p.Addr(h, offAdmin)}, d.identityArgs(c, cred)...)...)
}

// joinToken mints a join token for a service account of the cluster and
// writes it to a file, whose name it returns.
func (c *cluster) joinToken(name, namespace, serviceAccount string) (string, error) {
	key, err := identity.JoinKey(c.caDir())
	if err != nil {
		return "", err
	}
	id, err := identity.WorkloadID(spiffeid.RequireTrustDomainFromString(c.td), namespace, serviceAccount)
	if err != nil {
		return "", err
	}
	tok, err := identity.MintJoinToken(key, id, 24*time.Hour, time.Now())
	if err != nil {
		return "", err
	}
	cred := filepath.Join(c.dir, name+".token")
	return cred, os.WriteFile(cred, []byte(tok), 0o600)
}

// identityArgs make a proxy get its certificate from the cluster's CA
// with the join token in cred.
func (d *run) identityArgs(c *cluster, cred string) []string {
	return []string{"--ca-address", d.plan.Addr(d.plan.Host(c.net, 1), offCA), "--ca-root-file", filepath.Join(c.caDir(), identity.FileRoots), "--credential-file", cred}
}

// startWorkload mints the workload's join token, starts its application
// (in this process) and its sidecar.
func (d *run) startWorkload(w workload) error {
	c := d.east
	if w.net == westNet {
		c = d.west
	}
	p := d.plan
	cred, err := c.joinToken(w.name, "shop", w.sa)
	if err != nil {
		return err
	}
	h, app := p.Host(w.net, w.n), p.Host(w.net, w.n+100)
	switch w.app {
	case "reviews":
		err = d.apps.reviews(p.Addr(app, w.port), w.name, w.labels["version"])
	case "ratings":
		err = d.apps.ratings(p.Addr(app, w.port), w.name, c.name)
	case "frontend":
		err = d.apps.frontend(p.Addr(app, w.port), w.name, "http://"+p.Addr(h, offUpstream+1)+"/reviews", p.Addr(h, offUpstream+2))
	}
	if err != nil {
		return err
	}
	var labels, ups []string
	for k, v := range w.labels {
		labels = append(labels, k+"="+v)
	}
	for _, u := range w.upstreams {
		ups = append(ups, u.service+"="+p.Addr(h, u.off)) // each workload's own loopback address
	}
	args := []string{"sidecar", "--xds-address", p.Addr(p.Host(c.net, 1), offXDS), "--node-id", w.name + ".shop",
		"--workload", w.name, "--namespace", "shop", "--service-account", w.sa, "--cluster", c.name,
		"--ip", h.String(), "--interception", "none", "--app-address", app.String(), "--admin-address", p.Addr(h, offAdmin),
		"--labels", strings.Join(labels, ",")}
	args = append(args, d.identityArgs(c, cred)...)
	if w.app != "" {
		args = append(args, "--app-ports", fmt.Sprintf("%d/%s", p.Port(w.port), w.proto))
	}
	if len(ups) > 0 {
		args = append(args, "--upstreams", strings.Join(ups, ","))
	}
	return d.procs.start(w.name, filepath.Join(d.o.BinDir, "plexus-proxy"), args...)
}

// stop ends everything, in order: traffic, the control API, programs,
// applications.
func (d *run) stop() {
	if d.stopLoad != nil {
		d.stopLoad()
	}
	if d.control != nil {
		// Let a control request in flight (a gateway starting) finish
		// before the programs stop; then nothing more starts.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = d.control.Shutdown(ctx)
		cancel()
	}
	if d.procs != nil {
		d.procs.stopAll()
	}
	if d.apps != nil {
		d.apps.close()
	}
}

// imported reports whether east's control plane imports a service from
// its peer, as its dashboard's status says.
func (d *run) imported(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.plan.Local(offDashboard)+"/api/status", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st dashboard.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return err
	}
	if st.Imported == 0 {
		return errors.New("no import yet")
	}
	return nil
}

func httpOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status + ": " + strings.TrimSpace(string(body)))
	}
	return nil
}
