package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/httpproxy"
	"github.com/plexus-mesh/plexus/sidecar/listener"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
	"github.com/plexus-mesh/plexus/sidecar/tlsconfig"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// Proxy is a running proxy: its configuration, clusters and listeners.
type Proxy struct {
	log     *slog.Logger
	metrics *metrics.Metrics

	snapshot atomic.Pointer[config.Snapshot]
	clusters atomic.Pointer[map[string]*upstream.Cluster]

	mu        sync.Mutex // serializes Apply and Shutdown
	listeners map[string]*listener.Listener
	// virtual are listeners without a socket, by address, for connections
	// redirected to a use_original_dst listener.
	virtual atomic.Pointer[map[string]*listener.Listener]
	closed  bool
	// configured is set once a configuration with listeners is in effect.
	configured atomic.Bool
	draining   atomic.Bool
	// own are secrets the proxy obtained itself (its workload certificate
	// and trust bundle); they take precedence over secrets sent by xDS.
	own atomic.Pointer[map[string]*config.Secret]
	// needsIdentity is set when the proxy must hold its own certificate
	// before it is ready.
	needsIdentity atomic.Bool
}

var _ listener.Env = (*Proxy)(nil)

// New creates a proxy with no configuration.
func New(log *slog.Logger, m *metrics.Metrics) *Proxy {
	p := &Proxy{log: log, metrics: m, listeners: map[string]*listener.Listener{}}
	p.snapshot.Store(config.Empty())
	empty := map[string]*upstream.Cluster{}
	p.clusters.Store(&empty)
	noVirtual := map[string]*listener.Listener{}
	p.virtual.Store(&noVirtual)
	return p
}

// Snapshot returns the configuration in effect.
func (p *Proxy) Snapshot() *config.Snapshot { return p.snapshot.Load() }

// Routes implements listener.Env.
func (p *Proxy) Routes(name string) *config.RouteTable { return p.snapshot.Load().Routes[name] }

// Secret implements tlsconfig.Material: the current TLS secret by name.
func (p *Proxy) Secret(name string) *config.Secret {
	if own := p.own.Load(); own != nil {
		if s := (*own)[name]; s != nil {
			return s
		}
	}
	return p.snapshot.Load().Secrets[name]
}

// ExpectIdentity makes the proxy unready until SetIdentity gives it a
// certificate.
func (p *Proxy) ExpectIdentity() { p.needsIdentity.Store(true) }

// SetIdentity installs the proxy's own secrets, replacing the previous
// ones; new handshakes use them at once.
func (p *Proxy) SetIdentity(secrets ...*config.Secret) {
	m := make(map[string]*config.Secret, len(secrets))
	for _, s := range secrets {
		m[s.Name] = s
	}
	p.own.Store(&m)
}

// Cluster implements listener.Env.
func (p *Proxy) Cluster(name string) *upstream.Cluster { return (*p.clusters.Load())[name] }

// HTTPObserver implements listener.Env.
func (p *Proxy) HTTPObserver() httpproxy.Observer { return p.metrics }

// TCPObserver implements listener.Env.
func (p *Proxy) TCPObserver() listener.TCPObserver { return p.metrics }

// Logger implements listener.Env.
func (p *Proxy) Logger() *slog.Logger { return p.log }

// Apply makes next the configuration in effect. Listeners that cannot bind
// their address make Apply fail with nothing changed, so the xDS client can
// refuse the update and keep the last good configuration.
func (p *Proxy) Apply(next *config.Snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy is shutting down")
	}
	prev := p.snapshot.Load()

	// Bind new listeners first: a failure leaves everything as it was.
	started := map[string]*listener.Listener{}
	var errs []error
	for name, cfg := range next.Listeners {
		if !cfg.BindToPort {
			continue
		}
		if old := p.listeners[name]; old != nil && prev.Listeners[name].Address == cfg.Address {
			continue
		}
		l, err := listener.Start(cfg, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		started[name] = l
	}
	if len(errs) > 0 {
		for _, l := range started {
			_ = l.Shutdown(context.Background())
		}
		return errors.Join(errs...)
	}

	p.applyClusters(prev, next)
	p.snapshot.Store(next)
	if len(next.Listeners) > 0 {
		p.configured.Store(true)
	}

	for name, cfg := range next.Listeners {
		switch l := p.listeners[name]; {
		case started[name] != nil:
			if l != nil {
				go p.shutdownListener(name, l)
			}
			p.listeners[name] = started[name]
		case l != nil && !reflect.DeepEqual(prev.Listeners[name], cfg):
			if err := l.Update(cfg); err != nil {
				errs = append(errs, fmt.Errorf("listener %q: %w", name, err))
			}
		}
	}
	for name, l := range p.listeners {
		if _, ok := next.Listeners[name]; !ok || !next.Listeners[name].BindToPort {
			delete(p.listeners, name)
			go p.shutdownListener(name, l)
		}
	}
	errs = append(errs, p.applyVirtual(prev, next)...)
	return errors.Join(errs...)
}

// applyVirtual keeps the listeners without a socket in step with next.
func (p *Proxy) applyVirtual(prev, next *config.Snapshot) []error {
	var errs []error
	old := *p.virtual.Load()
	byName := map[string]*listener.Listener{}
	for _, l := range old {
		byName[l.Name()] = l
	}
	out := map[string]*listener.Listener{}
	for name, cfg := range next.Listeners {
		if cfg.BindToPort {
			continue
		}
		l := byName[name]
		switch {
		case l == nil:
			nl, err := listener.NewVirtual(cfg, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			l = nl
		case !reflect.DeepEqual(prev.Listeners[name], cfg):
			if err := l.Update(cfg); err != nil {
				errs = append(errs, err)
			}
		}
		out[cfg.Address] = l
	}
	p.virtual.Store(&out)
	for name, l := range byName {
		if cfg, ok := next.Listeners[name]; !ok || cfg.BindToPort {
			go p.shutdownListener(name, l)
		}
	}
	return errs
}

// VirtualListener implements listener.Env.
func (p *Proxy) VirtualListener(dst netip.AddrPort) *listener.Listener {
	v := *p.virtual.Load()
	if l := v[dst.String()]; l != nil {
		return l
	}
	return v[netip.AddrPortFrom(netip.IPv4Unspecified(), dst.Port()).String()]
}

// applyClusters creates, updates and removes cluster runtimes. A cluster
// whose configuration is unchanged keeps its runtime (pools, load, outlier
// state); only its endpoints are refreshed.
func (p *Proxy) applyClusters(prev, next *config.Snapshot) {
	old := *p.clusters.Load()
	out := make(map[string]*upstream.Cluster, len(next.Clusters))
	for name, cfg := range next.Clusters {
		rt := old[name]
		if rt == nil || !reflect.DeepEqual(rt.Config(), cfg) {
			opts := upstream.Options{Observer: p.metrics}
			if cfg.TLS != nil {
				// Compiled already: the SPIFFE IDs parse, so this cannot fail.
				opts.TLS, _ = tlsconfig.Client(p, cfg.TLS, nil)
			}
			rt = upstream.NewCluster(cfg, opts)
		}
		if cfg.EDSName != "" {
			if eps := next.Endpoints[cfg.EDSName]; eps != nil && (eps != prev.Endpoints[cfg.EDSName] || rt != old[name]) {
				rt.SetEndpoints(eps)
			}
		}
		out[name] = rt
	}
	p.clusters.Store(&out)
	for name, rt := range old {
		if out[name] != rt {
			rt.Close()
		}
	}
}

func (p *Proxy) shutdownListener(name string, l *listener.Listener) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		p.log.Debug("listener closed", "listener", name, "error", err)
	}
}

// Clusters returns the cluster runtimes in effect.
func (p *Proxy) Clusters() map[string]*upstream.Cluster { return *p.clusters.Load() }

// Ready reports whether the proxy should receive traffic: it has a
// configuration and is not draining.
func (p *Proxy) Ready() (bool, string) {
	switch {
	case p.draining.Load():
		return false, "draining"
	case !p.configured.Load():
		return false, "no listeners configured yet"
	case p.needsIdentity.Load() && p.own.Load() == nil:
		return false, "no workload certificate yet"
	}
	return true, ""
}

// Shutdown drains the proxy: listeners stop accepting, in-flight requests
// finish until ctx ends, then everything closes.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.draining.Store(true)
	p.mu.Lock()
	p.closed = true
	ls := maps.Clone(p.listeners)
	for addr, l := range *p.virtual.Load() {
		ls["virtual "+addr] = l
	}
	p.listeners = map[string]*listener.Listener{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for name, l := range ls {
		wg.Go(func() {
			if err := l.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("listener %q: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, c := range *p.clusters.Load() {
		c.Close()
	}
	return errors.Join(errs...)
}

// drainTimeout bounds how long a replaced listener's requests may run on.
const drainTimeout = time.Minute
