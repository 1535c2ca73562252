package httpproxy

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/tlsconfig"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// Observer is told what happens to requests, for metrics.
type Observer interface {
	// Request is called once per request when its response is complete.
	Request(e RequestEvent)
	LocalReply(dir config.Direction, status int, reason string)
	Retry(c *config.Cluster, reason string)
	Timeout(c *config.Cluster, reason string)
}

// RequestEvent describes one finished request.
type RequestEvent struct {
	Direction config.Direction
	// Cluster the request was sent to; nil for local replies before one
	// was chosen.
	Cluster    *config.Cluster
	Status     int
	GRPCStatus string
	Duration   time.Duration
	// Peer is the caller's SPIFFE ID when mTLS verified it, else "".
	Peer string
	// DestinationCluster is the mesh cluster of the last host tried, when
	// its locality names one: which peer served a cross-cluster request.
	DestinationCluster string
}

// Config configures a Handler.
type Config struct {
	Direction config.Direction
	// Routes returns the current route table, or nil when none has
	// arrived yet.
	Routes func() *config.RouteTable
	// Cluster returns the runtime of a cluster, or nil when it does not
	// exist.
	Cluster  func(name string) *upstream.Cluster
	Observer Observer
	// RBAC authorizes each request before routing, in order.
	RBAC []*config.RBAC
	// Port is the destination port authorization sees; 0 takes it from
	// the connection's local address.
	Port uint32
	// Log receives forwarding errors at debug level (each one is also a
	// local reply, counted and explained in a header).
	Log *slog.Logger
}

// Handler routes and forwards HTTP requests.
type Handler struct {
	cfg   Config
	proxy *httputil.ReverseProxy
}

// New creates a handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      attemptTransport{h: h},
		ModifyResponse: modifyResponse,
		ErrorHandler:   h.proxyError,
		ErrorLog:       slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		BufferPool:     newBufferPool(),
	}
	return h
}

// bufferPool recycles body copy buffers: without it each request would
// allocate 32 kB.
type bufferPool struct{ pool *sync.Pool }

func newBufferPool() bufferPool {
	return bufferPool{pool: &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p bufferPool) Put(b []byte) { p.pool.Put(&b) }

type planKey struct{}

// plan is what routing decided for one request.
type plan struct {
	vh      *config.VirtualHost
	route   *config.Route
	backend *config.WeightedBackend
	cluster *upstream.Cluster
	// host is the last host an attempt went to.
	host *upstream.Host
	// deadline of the route timeout, zero when none.
	deadline time.Time
	// perTryTimedOut is set when the last attempt ended by its per-try
	// timeout.
	perTryTimedOut bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	p := &plan{}
	// The caller's verified identity, for authorization and metrics.
	var peer string
	if id, ok := tlsconfig.PeerID(r.TLS); ok {
		peer = id.String()
	}
	defer func() {
		ev := RequestEvent{Direction: h.cfg.Direction, Status: rec.status(), GRPCStatus: rec.grpcStatus(), Duration: time.Since(start), Peer: peer}
		if p.cluster != nil {
			ev.Cluster = p.cluster.Config()
		}
		if p.host != nil {
			ev.DestinationCluster = p.host.Cluster
		}
		if h.cfg.Observer != nil {
			h.cfg.Observer.Request(ev)
		}
	}()
	if err := h.authorize(r, peer); err != nil {
		h.localReply(rec, r, err)
		return
	}
	if err := h.route(rec, r, p); err != nil {
		h.localReply(rec, r, err)
	}
}

// authorize applies the authorization filters: a denied request gets 403,
// or PERMISSION_DENIED for gRPC.
func (h *Handler) authorize(r *http.Request, peer string) *localError {
	if len(h.cfg.RBAC) == 0 {
		return nil
	}
	req := &config.AuthzRequest{Port: h.cfg.Port, HTTP: true, Method: r.Method, Path: r.URL.Path, Peer: peer}
	if req.Port == 0 {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			req.Port = uint32(a.Port)
		}
	}
	for _, rb := range h.cfg.RBAC {
		if ok, policy := rb.Allows(req); !ok {
			detail := "no authorization policy allows " + describeCaller(req.Peer)
			if policy != "" {
				detail = "denied to " + describeCaller(req.Peer) + " by policy " + policy
			}
			return &localError{http.StatusForbidden, ReasonRBACDenied, detail}
		}
	}
	return nil
}

func describeCaller(peer string) string {
	if peer == "" {
		return "an unauthenticated caller"
	}
	return peer
}

// route decides what to do with r and does it.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, p *plan) *localError {
	rt := h.cfg.Routes()
	if rt == nil {
		return &localError{http.StatusServiceUnavailable, ReasonNoRouteConfig, "the proxy has no routes yet"}
	}
	if p.vh = selectVirtualHost(rt, r.Host); p.vh == nil {
		return &localError{http.StatusNotFound, ReasonNoRoute, "no virtual host for authority " + r.Host}
	}
	if p.route = selectRoute(p.vh, r); p.route == nil {
		return &localError{http.StatusNotFound, ReasonNoRoute, "no route matches " + r.Method + " " + r.URL.Path}
	}
	switch {
	case p.route.Direct != nil:
		h.direct(w, r, p)
		return nil
	case p.route.Redirect != nil:
		h.redirect(w, r, p)
		return nil
	}
	fwd := p.route.Forward
	p.backend = pickBackend(fwd)
	if p.cluster = h.cfg.Cluster(p.backend.Cluster); p.cluster == nil {
		return &localError{http.StatusServiceUnavailable, ReasonNoCluster, "cluster " + p.backend.Cluster + " is not known to the proxy"}
	}
	ctx := r.Context()
	if fwd.Timeout > 0 {
		p.deadline = time.Now().Add(fwd.Timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, p.deadline)
		defer cancel()
	}
	release, err := p.cluster.Acquire(ctx)
	if err != nil {
		return h.upstreamError(p, err)
	}
	defer release()
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, planKey{}, p)))
	return nil
}

func pickBackend(f *config.Forward) *config.WeightedBackend {
	if len(f.Backends) == 1 {
		return &f.Backends[0]
	}
	n := rand.Uint32N(f.TotalWeight)
	for i := range f.Backends {
		if n < f.Backends[i].Weight {
			return &f.Backends[i]
		}
		n -= f.Backends[i].Weight
	}
	return &f.Backends[len(f.Backends)-1]
}

// rewrite prepares the outgoing request: header changes, path and host
// rewrites. The host to send to is chosen per attempt by the transport.
func rewrite(pr *httputil.ProxyRequest) {
	p := pr.In.Context().Value(planKey{}).(*plan)
	out := pr.Out
	// Keep what earlier hops said about the client.
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			out.Header[k] = v
		}
	}
	out.URL.Scheme = "http"
	fwd := p.route.Forward
	switch {
	case fwd.PrefixRewrite != "" && p.route.Match.PathKind != config.PathRegex:
		rewritePath(out.URL, func(path string) string { return replacePrefix(path, &p.route.Match, fwd.PrefixRewrite) })
	case fwd.RegexRewrite != nil:
		rewritePath(out.URL, func(path string) string { return fwd.RegexRewrite.ReplaceAllString(path, fwd.RegexSubst) })
	}
	if fwd.HostRewrite != "" {
		out.Host = fwd.HostRewrite
	}
	applyHeaders(out.Header, &p.vh.RequestHeaders, &p.route.RequestHeaders, &p.backend.RequestHeaders)
}

// replacePrefix swaps the matched prefix of path for prefix. Replacing a
// segment prefix with "/" keeps one slash ("/api/x" becomes "/x"), as
// Gateway API's ReplacePrefixMatch requires.
func replacePrefix(path string, m *config.RouteMatch, prefix string) string {
	rest := path[min(len(m.Path), len(path)):]
	if m.PathKind == config.PathSegmentPrefix && prefix == "/" {
		return "/" + strings.TrimPrefix(rest, "/")
	}
	return prefix + rest
}

func rewritePath(u *url.URL, f func(string) string) {
	escaped := f(u.EscapedPath())
	if path, err := url.PathUnescape(escaped); err == nil {
		u.Path, u.RawPath = path, escaped
	}
}

func modifyResponse(resp *http.Response) error {
	p := resp.Request.Context().Value(planKey{}).(*plan)
	applyHeaders(resp.Header, &p.vh.ResponseHeaders, &p.route.ResponseHeaders, &p.backend.ResponseHeaders)
	return nil
}

func (h *Handler) direct(w http.ResponseWriter, r *http.Request, p *plan) {
	applyHeaders(w.Header(), &p.vh.ResponseHeaders, &p.route.ResponseHeaders)
	w.Header().Set(LocalReplyHeader, ReasonDirectResponse)
	w.WriteHeader(p.route.Direct.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(p.route.Direct.Body))
	}
}

func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, p *plan) {
	rd := p.route.Redirect
	u := *r.URL
	u.Scheme = "http"
	if rd.Scheme != "" {
		u.Scheme = rd.Scheme
	}
	u.Host = r.Host
	if rd.Host != "" {
		u.Host = rd.Host
	}
	if rd.Port != 0 {
		u.Host = net.JoinHostPort(hostOnly(u.Host), itoa(int(rd.Port)))
	}
	switch {
	case rd.Path != "":
		u.Path, u.RawPath = rd.Path, ""
	case rd.PrefixRewrite != "" && p.route.Match.PathKind != config.PathRegex:
		rewritePath(&u, func(path string) string { return replacePrefix(path, &p.route.Match, rd.PrefixRewrite) })
	}
	if rd.StripQuery {
		u.RawQuery = ""
	}
	code := rd.Code
	if code == 0 {
		code = http.StatusMovedPermanently
	}
	applyHeaders(w.Header(), &p.vh.ResponseHeaders, &p.route.ResponseHeaders)
	w.Header().Set(LocalReplyHeader, ReasonRedirect)
	http.Redirect(w, r, u.String(), code)
}

// proxyError turns a forwarding failure into a local reply.
func (h *Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(r.Context().Err(), context.Canceled) {
		return // the client went away; there is no one to answer
	}
	p, _ := r.Context().Value(planKey{}).(*plan)
	h.localReply(w, r, h.upstreamError(p, err))
}

func (h *Handler) upstreamError(p *plan, err error) *localError {
	var overflow *upstream.OverflowError
	var le *localError
	switch {
	case errors.As(err, &le):
		return le
	case errors.As(err, &overflow):
		return &localError{http.StatusServiceUnavailable, ReasonOverflowPrefix + overflow.Limit, err.Error()}
	case errors.Is(err, upstream.ErrNoHealthyHost):
		return &localError{http.StatusServiceUnavailable, ReasonNoHealthyUpstream, "every endpoint of cluster " + p.cluster.Config().Name + " is unhealthy or ejected"}
	case !p.deadline.IsZero() && !time.Now().Before(p.deadline):
		h.observeTimeout(p, ReasonRequestTimeout)
		return &localError{http.StatusGatewayTimeout, ReasonRequestTimeout, "the route timeout of " + p.route.Forward.Timeout.String() + " expired"}
	case p.perTryTimedOut:
		return &localError{http.StatusGatewayTimeout, ReasonPerTryTimeout, "the last attempt exceeded the per-try timeout"}
	case upstream.IsConnectFailure(err):
		return &localError{http.StatusServiceUnavailable, ReasonConnectFailure, err.Error()}
	default:
		return &localError{http.StatusServiceUnavailable, ReasonUpstreamReset, "upstream connection reset or protocol error before the response: " + err.Error()}
	}
}

func (h *Handler) observeTimeout(p *plan, reason string) {
	if h.cfg.Observer != nil && p.cluster != nil {
		h.cfg.Observer.Timeout(p.cluster.Config(), reason)
	}
}

func (h *Handler) localReply(w http.ResponseWriter, r *http.Request, e *localError) {
	if h.cfg.Observer != nil {
		h.cfg.Observer.LocalReply(h.cfg.Direction, e.status, e.reason)
	}
	writeLocalReply(w, r, e)
}
