package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/httpproxy"
	"github.com/plexus-mesh/plexus/sidecar/tlsconfig"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// Env is what a listener needs from the rest of the proxy.
type Env interface {
	// Routes returns the current route table with the given name, or nil.
	Routes(name string) *config.RouteTable
	// Cluster returns the runtime of a cluster, or nil.
	Cluster(name string) *upstream.Cluster
	HTTPObserver() httpproxy.Observer
	TCPObserver() TCPObserver
	Logger() *slog.Logger
	// Secret returns TLS material by name, for terminating mTLS.
	Secret(name string) *config.Secret
	// VirtualListener returns the listener without a socket that handles
	// connections originally sent to dst (exact address first, then
	// 0.0.0.0 and the port), or nil.
	VirtualListener(dst netip.AddrPort) *Listener
}

// SniffTimeout is how long a listener waits for a connection's first bytes
// when it must know the protocol. Server-first protocols send nothing and
// are treated as opaque TCP once it passes.
const SniffTimeout = time.Second

// handshakeTimeout bounds a TLS handshake on an inbound connection.
const handshakeTimeout = 10 * time.Second

// Listener is one running listener.
type Listener struct {
	env   Env
	ln    net.Listener
	state atomic.Pointer[state]
	wg    sync.WaitGroup

	mu      sync.Mutex
	retired []*state // replaced states still finishing their connections
	closed  bool
	tcp     sync.WaitGroup
}

// state is one configuration of a listener with its servers.
type state struct {
	cfg    *config.Listener
	chains []*chain
	def    *chain
	sniff  bool
	// sni: some chain matches on the TLS server name, so a TLS
	// connection's ClientHello is read before a chain is chosen.
	sni bool
}

type chain struct {
	cfg  *config.FilterChain
	tls  *tls.Config
	srv  *http.Server
	conn *connListener
}

// Start binds the listener's address and starts accepting.
func Start(cfg *config.Listener, env Env) (*Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %q: binding %s: %w", cfg.Name, cfg.Address, err)
	}
	l := &Listener{env: env, ln: ln}
	s, err := l.newState(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	l.state.Store(s)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Name is the listener's name.
func (l *Listener) Name() string { return l.state.Load().cfg.Name }

// NewVirtual creates a listener that opens no socket: it handles the
// connections a listener with use_original_dst hands over.
func NewVirtual(cfg *config.Listener, env Env) (*Listener, error) {
	l := &Listener{env: env}
	s, err := l.newState(cfg)
	if err != nil {
		return nil, err
	}
	l.state.Store(s)
	return l, nil
}

// Addr is the bound address (useful when the port was 0); nil for a
// virtual listener.
func (l *Listener) Addr() net.Addr {
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Update switches the listener to a new configuration for the same
// address. New connections use it at once; open ones finish on the old one.
func (l *Listener) Update(cfg *config.Listener) error {
	s, err := l.newState(cfg)
	if err != nil {
		return err
	}
	old := l.state.Swap(s)
	l.retire(old)
	return nil
}

func (l *Listener) newState(cfg *config.Listener) (*state, error) {
	s := &state{cfg: cfg}
	build := func(fc *config.FilterChain) (*chain, error) {
		c := &chain{cfg: fc}
		if fc.TLS != nil {
			var err error
			if c.tls, err = tlsconfig.Server(l.env, fc.TLS); err != nil {
				return nil, fmt.Errorf("listener %q: filter chain %q: %w", cfg.Name, fc.Name, err)
			}
		}
		if fc.HTTP != nil {
			c.conn = newConnListener(l.Addr())
			c.srv = l.httpServer(cfg, fc)
			go func() { _ = c.srv.Serve(c.conn) }()
		}
		if fc.Match.TransportProtocol != "" || len(fc.Match.ApplicationProtocols) > 0 {
			s.sniff = true
		}
		if len(fc.Match.ServerNames) > 0 {
			s.sniff, s.sni = true, true
		}
		return c, nil
	}
	for _, fc := range cfg.FilterChains {
		c, err := build(fc)
		if err != nil {
			s.shutdownNow()
			return nil, err
		}
		s.chains = append(s.chains, c)
	}
	if cfg.DefaultChain != nil {
		c, err := build(cfg.DefaultChain)
		if err != nil {
			s.shutdownNow()
			return nil, err
		}
		s.def = c
	}
	return s, nil
}

func (l *Listener) httpServer(cfg *config.Listener, fc *config.FilterChain) *http.Server {
	h := fc.HTTP
	routes := func() *config.RouteTable { return h.Routes }
	if h.Routes == nil {
		name := h.RouteName
		routes = func() *config.RouteTable { return l.env.Routes(name) }
	}
	srv := &http.Server{
		Handler: httpproxy.New(httpproxy.Config{
			Direction: cfg.Direction,
			Routes:    routes,
			Cluster:   l.env.Cluster,
			Observer:  l.env.HTTPObserver(),
			Log:       l.env.Logger().With("listener", cfg.Name),
			RBAC:      h.RBAC,
			Port:      fc.Match.DestinationPort,
		}),
		ReadHeaderTimeout: h.RequestHeadersTimeout,
		IdleTimeout:       h.IdleTimeout,
		MaxHeaderBytes:    h.MaxRequestHeadersBytes,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(l.env.Logger().With("listener", cfg.Name).Handler(), slog.LevelDebug),
		// OPTIONS * and the like belong to the application.
		DisableGeneralOptionsHandler: true,
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return srv
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep going.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.env.Logger().Warn("accept failed", "address", l.ln.Addr(), "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go l.dispatch(conn)
	}
}

// dispatch picks the filter chain for conn and hands it over. A listener
// with use_original_dst first hands the connection to the virtual listener
// for where it was going.
func (l *Listener) dispatch(conn net.Conn) {
	s := l.state.Load()
	port := 0
	if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	if s.cfg.UseOriginalDst {
		dst, err := originalDst(conn)
		if err != nil {
			l.env.Logger().Debug("no original destination", "listener", s.cfg.Name, "error", err)
			_ = conn.Close()
			return
		}
		conn = &redirectedConn{Conn: conn, dst: dst}
		// Only outbound connections are handed to the listener of their
		// destination. An inbound connection to the pod's own address
		// would otherwise match an outbound listener for the same port
		// (0.0.0.0_8080) and skip the inbound chains and their mTLS.
		if v := l.env.VirtualListener(dst); v != nil && v != l && s.cfg.Direction == config.Outbound {
			v.handle(conn, int(dst.Port()))
			return
		}
		port = int(dst.Port())
	}
	l.handleWith(s, conn, port)
}

// handle serves a connection handed over by another listener.
func (l *Listener) handle(conn net.Conn, port int) {
	l.handleWith(l.state.Load(), conn, port)
}

func (l *Listener) handleWith(s *state, conn net.Conn, port int) {
	var transport, app, serverName string
	if s.sniff {
		// On error the sniffers return no connection: close the one we have.
		raw := conn
		var err error
		if transport, app, conn, err = sniff(raw, SniffTimeout); err != nil {
			_ = raw.Close()
			return
		}
		if s.sni && transport == TransportTLS {
			if serverName, conn, err = peekServerName(conn, SniffTimeout); err != nil {
				l.env.Logger().Debug("no TLS ClientHello", "listener", s.cfg.Name, "remote", raw.RemoteAddr(), "error", err)
				_ = raw.Close()
				return
			}
		}
	}
	c := s.selectChain(uint32(port), transport, app, serverName)
	if c == nil {
		l.env.Logger().Debug("no filter chain matches the connection", "listener", s.cfg.Name, "port", port, "transport", transport, "protocol", app, "server_name", serverName)
		_ = conn.Close()
		return
	}
	if c.tls != nil {
		// Handshake here, not in the HTTP server: a client that fails it
		// (plaintext in STRICT mode, an unknown CA) is simply cut off.
		tc := tls.Server(conn, c.tls)
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.env.Logger().Debug("TLS handshake refused", "listener", s.cfg.Name, "remote", conn.RemoteAddr(), "error", err)
			_ = conn.Close()
			return
		}
		conn = tc
	}
	if s.cfg.Direction == config.Inbound {
		l.env.TCPObserver().Accepted(c.tls != nil)
	}
	switch {
	case c.conn != nil:
		if !c.conn.deliver(conn) {
			_ = conn.Close()
		}
	case c.cfg.TCP != nil:
		if !l.authorize(c.cfg, conn, port, s.cfg.Direction) {
			_ = conn.Close()
			return
		}
		// Count the connection only while the listener is open, so
		// Shutdown's Wait never races an Add.
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.tcp.Add(1)
		l.mu.Unlock()
		defer l.tcp.Done()
		proxyTCP(conn, c.cfg.TCP, s.cfg.Direction, l.env)
	}
}

// authorize applies the chain's authorization filters to an opaque TCP
// connection; a denied one is counted and logged, and the caller closes
// it.
func (l *Listener) authorize(fc *config.FilterChain, conn net.Conn, port int, dir config.Direction) bool {
	if len(fc.RBAC) == 0 {
		return true
	}
	req := &config.AuthzRequest{Port: uint32(port)}
	if tc, ok := conn.(*tls.Conn); ok {
		state := tc.ConnectionState()
		if id, ok := tlsconfig.PeerID(&state); ok {
			req.Peer = id.String()
		}
	}
	for _, r := range fc.RBAC {
		if ok, policy := r.Allows(req); !ok {
			l.env.Logger().Debug("connection denied by authorization", "listener", fc.Name, "peer", req.Peer, "port", port, "policy", policy)
			var cluster *config.Cluster
			if u := l.env.Cluster(fc.TCP.Cluster); u != nil {
				cluster = u.Config()
			}
			l.env.TCPObserver().Failed(dir, cluster, ReasonRBACDenied)
			return false
		}
	}
	return true
}

// ReasonRBACDenied is the local reply reason of requests and connections
// an authorization policy refused.
const ReasonRBACDenied = httpproxy.ReasonRBACDenied

// selectChain applies Envoy's precedence: a chain naming the destination
// port beats one that does not; then an exact server name, then a
// wildcard one; then a named transport protocol; then named application
// protocols.
func (s *state) selectChain(port uint32, transport, app, serverName string) *chain {
	var best *chain
	bestScore := -1
	for _, c := range s.chains {
		m := c.cfg.Match
		score := 0
		if m.DestinationPort != 0 {
			if m.DestinationPort != port {
				continue
			}
			score += 16
		}
		if len(m.ServerNames) > 0 {
			switch serverNameMatches(m.ServerNames, serverName) {
			case 2:
				score += 12
			case 1:
				score += 8
			default:
				continue
			}
		}
		if m.TransportProtocol != "" {
			if m.TransportProtocol != transport {
				continue
			}
			score += 2
		}
		if len(m.ApplicationProtocols) > 0 {
			if !slices.Contains(m.ApplicationProtocols, app) {
				continue
			}
			score++
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	if best == nil {
		return s.def
	}
	return best
}

func (l *Listener) retire(s *state) {
	l.mu.Lock()
	l.retired = append(l.retired, s)
	l.mu.Unlock()
	go func() {
		// Idle connections close now; active requests get a minute.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.shutdown(ctx)
		l.mu.Lock()
		for i, r := range l.retired {
			if r == s {
				l.retired = append(l.retired[:i], l.retired[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
	}()
}

// Shutdown stops accepting, then waits until in-flight HTTP requests are
// done or ctx ends, then closes what is left. Opaque TCP connections are
// given until ctx ends too.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	var err error
	if l.ln != nil {
		err = l.ln.Close()
	}
	l.wg.Wait()
	s := l.state.Load()
	s.shutdown(ctx)
	done := make(chan struct{})
	go func() { l.tcp.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

func (s *state) all() []*chain {
	if s.def != nil {
		return append(append([]*chain(nil), s.chains...), s.def)
	}
	return s.chains
}

func (s *state) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range s.all() {
		if c.srv != nil {
			wg.Go(func() {
				if err := c.srv.Shutdown(ctx); err != nil {
					_ = c.srv.Close()
				}
			})
		}
	}
	wg.Wait()
}

func (s *state) shutdownNow() {
	for _, c := range s.all() {
		if c != nil && c.srv != nil {
			_ = c.srv.Close()
		}
	}
}
