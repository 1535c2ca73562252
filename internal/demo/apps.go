package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/demo/ratingspb"
)

// Fault is what an application instance is told to do wrong: fail a share
// of requests, and be slow.
type Fault struct {
	ErrorRate float64       `json:"errorRate"`
	Delay     time.Duration `json:"delay"`
}

// faults are the demo's injected faults, by workload.
type faults struct {
	mu sync.Mutex
	by map[string]Fault
}

func (f *faults) set(workload string, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil {
		f.by = map[string]Fault{}
	}
	if ft == (Fault{}) {
		delete(f.by, workload)
		return
	}
	f.by[workload] = ft
}

func (f *faults) all() map[string]Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Fault, len(f.by))
	for k, v := range f.by {
		out[k] = v
	}
	return out
}

// apply sleeps for the workload's delay and reports whether this request
// should fail.
func (f *faults) apply(ctx context.Context, workload string) bool {
	f.mu.Lock()
	ft := f.by[workload]
	f.mu.Unlock()
	if ft.Delay > 0 {
		select {
		case <-time.After(ft.Delay):
		case <-ctx.Done():
		}
	}
	return ft.ErrorRate > 0 && rand.Float64() < ft.ErrorRate //nolint:gosec // fault injection, not security
}

// apps are the sample application's processes-in-process: each serves on
// its own application address, behind its sidecar.
type apps struct {
	faults  *faults
	servers []func()
}

func (a *apps) close() {
	for _, stop := range a.servers {
		stop()
	}
}

func (a *apps) serveHTTP(addr string, h http.Handler) error {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("application address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.servers = append(a.servers, func() { _ = srv.Close() })
	return nil
}

// reviews answers with its version's reviews of a product.
func (a *apps) reviews(addr, workload, version string) error {
	return a.serveHTTP(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.faults.apply(r.Context(), workload) {
			http.Error(w, workload+": injected failure", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"version": version, "instance": workload,
			"reviews": []string{"An extremely entertaining play by Shakespeare.", "Absolutely fun and entertaining."},
		})
	}))
}

// ratingsServer is the gRPC ratings service.
type ratingsServer struct {
	ratingspb.UnimplementedRatingsServer
	a                 *apps
	workload, cluster string
}

func (s *ratingsServer) Get(ctx context.Context, req *ratingspb.GetRequest) (*ratingspb.Rating, error) {
	if s.a.faults.apply(ctx, s.workload) {
		return nil, status.Errorf(codes.Unavailable, "%s: injected failure", s.workload)
	}
	return &ratingspb.Rating{Product: req.GetProduct(), Stars: 4, Instance: s.workload, Cluster: s.cluster}, nil
}

func (a *apps) ratings(addr, workload, cluster string) error {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("application address %s: %w", addr, err)
	}
	g := grpc.NewServer()
	ratingspb.RegisterRatingsServer(g, &ratingsServer{a: a, workload: workload, cluster: cluster})
	go func() { _ = g.Serve(ln) }()
	a.servers = append(a.servers, g.Stop)
	return nil
}

// frontend calls reviews (HTTP) and ratings (gRPC) at its sidecar's
// upstream addresses, and answers with both.
func (a *apps) frontend(addr, workload, reviewsURL, ratingsAddr string) error {
	conn, err := grpc.NewClient(ratingsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	ratings := ratingspb.NewRatingsClient(conn)
	client := &http.Client{Timeout: 5 * time.Second}
	a.servers = append(a.servers, func() { _ = conn.Close() })
	return a.serveHTTP(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.faults.apply(r.Context(), workload) {
			http.Error(w, workload+": injected failure", http.StatusServiceUnavailable)
			return
		}
		page := map[string]any{"product": "The Comedy of Errors"}
		code := http.StatusOK
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, reviewsURL, nil)
		if resp, err := client.Do(req); err != nil {
			page["reviewsError"], code = err.Error(), http.StatusBadGateway
		} else {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				page["reviewsError"], code = fmt.Sprintf("%d %s", resp.StatusCode, body), http.StatusBadGateway
			} else {
				page["reviews"] = json.RawMessage(body)
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if rating, err := ratings.Get(ctx, &ratingspb.GetRequest{Product: "comedy-of-errors"}); err != nil {
			page["ratingsError"], code = err.Error(), http.StatusBadGateway
		} else {
			page["rating"] = map[string]any{"stars": rating.GetStars(), "instance": rating.GetInstance(), "cluster": rating.GetCluster()}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(page)
	}))
}

// loadgen calls url at rps until ctx ends, keeping count.
type loadgen struct {
	mu           sync.Mutex
	sent, failed int
}

func (l *loadgen) run(ctx context.Context, url string, rps int) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(max(rps, 1)))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			l.mu.Lock()
			l.sent++
			if !ok {
				l.failed++
			}
			l.mu.Unlock()
		}()
	}
}

func (l *loadgen) counts() (sent, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.failed
}
