package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Config is what a Server reads from.
type Config struct {
	// Snapshot returns what the control plane knows now.
	Snapshot func() Snapshot
	// Metrics gives the signals; nil: none.
	Metrics Metrics
	// NACKs are the configurations proxies refused.
	NACKs func() []NACK
	// ProxyConfig returns the xDS resources the control plane sends a
	// proxy, as JSON, and whether the proxy is connected.
	ProxyConfig func(id string) (json.RawMessage, bool)
	// Assets are the web UI: index.html and static/.
	Assets fs.FS
	// Window the signals are over, by default; default 1m.
	Window time.Duration
	// Interval between live updates; default 5s.
	Interval time.Duration
	// AllowedHosts are host names (besides loopback ones) requests may be
	// addressed to, such as the name of an Ingress in front.
	AllowedHosts []string
	Log          *slog.Logger
}

// Server serves the dashboard and its API.
type Server struct {
	cfg Config
	mux *http.ServeMux

	mu      sync.Mutex
	lastErr error

	// edgeCache shares the signals of one window between the requests
	// and event streams of one interval: however many tabs are open, the
	// source is asked once per interval.
	edgeMu    sync.Mutex
	edgeCache map[time.Duration]cachedEdges
}

type cachedEdges struct {
	at    time.Time
	edges []EdgeStats
	err   error
}

// New makes a Server.
func New(cfg Config) *Server {
	if cfg.Window == 0 {
		cfg.Window = time.Minute
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.NACKs == nil {
		cfg.NACKs = func() []NACK { return nil }
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /api/topology", s.topology)
	s.mux.HandleFunc("GET /api/services/{cluster}/{namespace}/{name}", s.service)
	s.mux.HandleFunc("GET /api/events", s.events)
	s.mux.HandleFunc("GET /api/status", s.status)
	s.mux.HandleFunc("GET /api/check", s.check)
	s.mux.HandleFunc("GET /api/proxies/{id}/config", s.proxyConfig)
	s.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API at %s: see /api/topology, /api/services/{cluster}/{namespace}/{name}, /api/status, /api/check, /api/proxies/{id}/config, /api/events", r.URL.Path))
	})
	if cfg.Assets != nil {
		static := http.FileServerFS(cfg.Assets)
		s.mux.Handle("GET /static/", static)
		s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, cfg.Assets, "index.html")
		})
	}
	return s
}

// ServeHTTP implements http.Handler, with headers that keep the UI to its
// own assets. It answers only requests addressed to a loopback name or
// address, or to a host AllowedHosts lists: a web page elsewhere cannot
// read the API through a name it points at 127.0.0.1 (DNS rebinding).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("the dashboard does not answer to host %q: reach it at 127.0.0.1 or localhost (kubectl port-forward), or allow the name with --dashboard-allowed-hosts", r.Host))
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && ip.IsLoopback() {
		return true
	}
	return slices.Contains(s.cfg.AllowedHosts, host)
}

// duration reads a query parameter, or def; the error says what is wrong.
func duration(r *http.Request, name string, def, lo, hi time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s=%q: want a duration from %s to %s, such as %s", name, v, lo, hi, def)
	}
	return d, nil
}

// Topology builds the topology over window.
func (s *Server) Topology(ctx context.Context, window time.Duration) Topology {
	snap := s.cfg.Snapshot()
	var edges []EdgeStats
	var err error
	source := ""
	if s.cfg.Metrics != nil {
		source = s.cfg.Metrics.Name()
		edges, err = s.edges(ctx, window)
	}
	t := BuildTopology(snap, edges, time.Now(), window)
	t.Source = source
	if err != nil {
		t.SourceError = err.Error()
		s.mu.Lock()
		if s.lastErr == nil || s.lastErr.Error() != err.Error() {
			s.cfg.Log.Warn("dashboard signals unavailable", "source", source, "error", err)
		}
		s.lastErr = err
		s.mu.Unlock()
	}
	return t
}

// edges are the signals over window, asked of the source at most once per
// half interval; concurrent callers wait for one answer.
func (s *Server) edges(ctx context.Context, window time.Duration) ([]EdgeStats, error) {
	s.edgeMu.Lock()
	defer s.edgeMu.Unlock()
	if c, ok := s.edgeCache[window]; ok && time.Since(c.at) < s.cfg.Interval/2 {
		return c.edges, c.err
	}
	edges, err := s.cfg.Metrics.Edges(ctx, window)
	// A scraper answers from what it has; say which proxies it misses.
	if e, ok := s.cfg.Metrics.(interface{ Err() error }); ok && err == nil {
		err = e.Err()
	}
	if ctx.Err() == nil { // a caller that left does not set the answer
		if s.edgeCache == nil {
			s.edgeCache = map[time.Duration]cachedEdges{}
		}
		s.edgeCache[window] = cachedEdges{at: time.Now(), edges: edges, err: err}
	}
	return edges, err
}

func (s *Server) topology(w http.ResponseWriter, r *http.Request) {
	window, err := duration(r, "window", s.cfg.Window, 10*time.Second, time.Hour)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, s.Topology(r.Context(), window))
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) {
	span, err := duration(r, "span", 15*time.Minute, time.Minute, 24*time.Hour)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := ServiceKey{Cluster: r.PathValue("cluster"), Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	t := s.Topology(r.Context(), s.cfg.Window)
	d := BuildService(s.cfg.Snapshot(), t, key)
	if d == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no service %s/%s in cluster %s: see /api/topology for the services known", key.Namespace, key.Name, key.Cluster))
		return
	}
	if s.cfg.Metrics != nil {
		step := max(span/60, 5*time.Second)
		if d.Series, err = s.cfg.Metrics.Series(r.Context(), key, span, step); err != nil {
			d.SourceError = err.Error()
		}
	}
	writeJSON(w, d)
}

// events streams the topology as Server-Sent Events, every Interval.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		b, err := json.Marshal(s.Topology(r.Context(), s.cfg.Window))
		if err != nil {
			return
		}
		// A client that stops reading must not hold the handler forever.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * s.cfg.Interval))
		if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, BuildStatus(s.cfg.Snapshot(), s.cfg.NACKs()))
}

func (s *Server) check(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, BuildChecks(s.cfg.Snapshot(), s.cfg.NACKs()))
}

func (s *Server) proxyConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.cfg.ProxyConfig == nil {
		writeError(w, http.StatusNotImplemented, "this control plane does not serve proxy configurations")
		return
	}
	raw, ok := s.cfg.ProxyConfig(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no proxy %q is connected: see /api/status for the connected proxies", id))
		return
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		writeError(w, http.StatusInternalServerError, "the proxy's configuration does not decode: "+err.Error())
		return
	}
	cfg["secrets"] = SecretsOf(s.cfg.Snapshot(), id)
	writeJSON(w, cfg)
}

// Secret describes TLS material a proxy holds, never the material itself.
type Secret struct {
	Name string `json:"name"`
	// Kind is "certificate" (the proxy's SVID) or "trust bundle".
	Kind string `json:"kind"`
	// Identity is the certificate's SPIFFE ID; TrustDomain the bundle's.
	Identity    string `json:"identity,omitempty"`
	TrustDomain string `json:"trustDomain,omitempty"`
	// Source is where the proxy gets it.
	Source string `json:"source"`
}

// SecretsOf lists the TLS material proxy id holds: its certificate, the
// mesh's roots, and each federated peer's bundle.
func SecretsOf(s Snapshot, id string) []Secret {
	meta, ok := s.Proxies[id]
	if !ok || s.Mesh == nil || meta.Role != "" {
		return []Secret{}
	}
	td := s.Mesh.Settings.TrustDomain
	out := []Secret{
		{Name: nodemeta.CertificateSecret, Kind: "certificate", Identity: workloadIdentity(td, meta),
			Source: "certificate service (CSR signed by the mesh CA), renewed at half life"},
		{Name: nodemeta.RootSecret, Kind: "trust bundle", TrustDomain: td, Source: "certificate service"},
	}
	for _, p := range s.Peers {
		out = append(out, Secret{Name: "spiffe://" + p.TrustDomain, Kind: "trust bundle", TrustDomain: p.TrustDomain, Source: "federation (peer " + p.Name + ")"})
	}
	return out
}

// Serve serves the dashboard on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
