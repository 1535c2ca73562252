package upstream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func endpoints(levels ...[]string) *config.Endpoints {
	eps := &config.Endpoints{ClusterName: "c"}
	for p, addrs := range levels {
		loc := config.Locality{Priority: uint32(p)}
		for _, a := range addrs {
			loc.Endpoints = append(loc.Endpoints, config.Endpoint{Address: a, Weight: 1})
		}
		eps.Localities = append(eps.Localities, loc)
	}
	return eps
}

func newCluster(t *testing.T, cfg config.Cluster, eps *config.Endpoints) (*Cluster, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	if cfg.Limits == (config.Limits{}) {
		cfg.Limits = config.Limits{MaxConnections: 1024, MaxPendingRequests: 1024, MaxRequests: 1024, MaxRetries: 3}
	}
	cfg.ConnectTimeout = time.Second
	c := NewCluster(&cfg, Options{Now: clock.Now})
	c.SetEndpoints(eps)
	t.Cleanup(c.Close)
	return c, clock
}

func counts(t *testing.T, c *Cluster, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		h, err := c.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Addr]++
	}
	return got
}

func TestRoundRobinIsExactlyEven(t *testing.T) {
	c, _ := newCluster(t, config.Cluster{LB: config.RoundRobin}, endpoints([]string{"a:1", "b:1", "c:1"}))
	got := counts(t, c, 300)
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		if got[a] != 100 {
			t.Errorf("round robin gave %v, want 100 each", got)
		}
	}
}

func TestRandomAndLeastRequestUseEveryHost(t *testing.T) {
	for _, lb := range []config.LBPolicy{config.Random, config.LeastRequest} {
		t.Run(lb.String(), func(t *testing.T) {
			c, _ := newCluster(t, config.Cluster{LB: lb}, endpoints([]string{"a:1", "b:1", "c:1"}))
			got := counts(t, c, 3000)
			for _, a := range []string{"a:1", "b:1", "c:1"} {
				if got[a] < 700 { // expected 1000; far outside chance
					t.Errorf("%s gave %v: %s is starved", lb, got, a)
				}
			}
		})
	}
}

func TestLeastRequestAvoidsBusyHost(t *testing.T) {
	c, _ := newCluster(t, config.Cluster{LB: config.LeastRequest}, endpoints([]string{"a:1", "b:1"}))
	for _, h := range c.Hosts() {
		if h.Addr == "a:1" {
			h.active.Store(100)
		}
	}
	got := counts(t, c, 1000)
	// a is chosen only when both random draws pick it: about a quarter.
	if got["a:1"] > 350 {
		t.Errorf("least request sent %d of 1000 to the busy host", got["a:1"])
	}
}

func TestPriorityFailover(t *testing.T) {
	c, clock := newCluster(t, config.Cluster{OutlierDetection: &config.OutlierDetection{
		Consecutive5xx: 1, Interval: time.Second, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: time.Minute, MaxEjectionPercent: 100,
	}}, endpoints([]string{"local:1"}, []string{"remote:1"}))
	if got := counts(t, c, 10); got["local:1"] != 10 {
		t.Fatalf("with a healthy local host, got %v", got)
	}
	c.Report(c.Hosts()[0], ServerError)
	if got := counts(t, c, 10); got["remote:1"] != 10 {
		t.Fatalf("with the local host ejected, got %v", got)
	}
	clock.Advance(11 * time.Second)
	if got := counts(t, c, 10); got["local:1"] != 10 {
		t.Fatalf("after the ejection ended, got %v", got)
	}
}

func TestRetryPrefersAnotherHost(t *testing.T) {
	c, _ := newCluster(t, config.Cluster{}, endpoints([]string{"a:1", "b:1"}))
	for range 10 {
		first, _ := c.Pick(nil)
		second, err := c.Pick([]*Host{first})
		if err != nil || second == first {
			t.Fatalf("retry picked %v (%v) after %v", second, err, first)
		}
	}
	one, _ := newCluster(t, config.Cluster{}, endpoints([]string{"a:1"}))
	h, _ := one.Pick(nil)
	if again, err := one.Pick([]*Host{h}); err != nil || again != h {
		t.Fatalf("with one host, a retry must reuse it; got %v, %v", again, err)
	}
}

func TestOutlierEjectionGrowsAndIsCapped(t *testing.T) {
	od := &config.OutlierDetection{Consecutive5xx: 3, Interval: time.Second, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second, MaxEjectionPercent: 50}
	c, clock := newCluster(t, config.Cluster{OutlierDetection: od}, endpoints([]string{"a:1", "b:1", "c:1", "d:1"}))
	a := c.Hosts()[0]
	fail := func(h *Host, n int) {
		for range n {
			c.Report(h, ServerError)
		}
	}
	fail(a, 2)
	c.Report(a, Success) // resets the streak
	fail(a, 2)
	if a.ejected(clock.Now()) {
		t.Fatal("ejected after a success broke the streak")
	}
	fail(a, 1)
	if !a.ejected(clock.Now()) {
		t.Fatal("not ejected after 3 consecutive 5xx")
	}
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second} {
		if i > 0 {
			fail(a, 3)
		}
		clock.Advance(want - time.Millisecond)
		if !a.ejected(clock.Now()) {
			t.Fatalf("ejection %d ended before %s", i+1, want)
		}
		clock.Advance(time.Millisecond)
		if a.ejected(clock.Now()) {
			t.Fatalf("ejection %d lasted beyond %s", i+1, want)
		}
	}
	// At most half of 4 hosts may be out at once.
	for _, h := range c.Hosts() {
		fail(h, 3)
	}
	ejected := 0
	for _, h := range c.Hosts() {
		if h.ejected(clock.Now()) {
			ejected++
		}
	}
	if ejected != 2 {
		t.Fatalf("%d of 4 hosts ejected, want 2 (max ejection percent 50)", ejected)
	}
}

func TestGatewayErrorsEjectSeparately(t *testing.T) {
	od := &config.OutlierDetection{ConsecutiveGatewayErrors: 2, Interval: time.Second, BaseEjectionTime: time.Minute, MaxEjectionPercent: 100}
	c, clock := newCluster(t, config.Cluster{OutlierDetection: od}, endpoints([]string{"a:1", "b:1"}))
	a := c.Hosts()[0]
	c.Report(a, ServerError)
	c.Report(a, ServerError)
	c.Report(a, ServerError)
	if a.ejected(clock.Now()) {
		t.Fatal("plain 5xx ejected a host under gateway-errors-only detection")
	}
	c.Report(a, GatewayError)
	c.Report(a, GatewayError)
	if !a.ejected(clock.Now()) {
		t.Fatal("two consecutive gateway errors did not eject")
	}
}

func TestCircuitBreakerLimits(t *testing.T) {
	c, _ := newCluster(t, config.Cluster{Protocol: config.HTTP2, Limits: config.Limits{
		MaxConnections: 10, MaxRequests: 2, MaxPendingRequests: 1, MaxRetries: 1,
	}}, endpoints([]string{"a:1"}))
	ctx := context.Background()
	r1, err1 := c.Acquire(ctx)
	r2, err2 := c.Acquire(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// The third waits as pending; the fourth overflows at once.
	got := make(chan error, 1)
	go func() {
		release, err := c.Acquire(ctx)
		if err == nil {
			release()
		}
		got <- err
	}()
	waitPending(t, c, 1)
	var oe *OverflowError
	if _, err := c.Acquire(ctx); !errors.As(err, &oe) || oe.Limit != LimitPending {
		t.Fatalf("fourth request: %v, want pending overflow", err)
	}
	r1()
	if err := <-got; err != nil {
		t.Fatalf("pending request was not admitted when a slot freed: %v", err)
	}
	r2()
	rr, err := c.AcquireRetry()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireRetry(); !errors.As(err, &oe) || oe.Limit != LimitRetries {
		t.Fatalf("second retry: %v, want retries overflow", err)
	}
	rr()
	// A pending request gives up when its context ends.
	a, _ := c.Acquire(ctx)
	b, _ := c.Acquire(ctx)
	defer a()
	defer b()
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pending request past its deadline: %v", err)
	}
}

func waitPending(t *testing.T, c *Cluster, n int) {
	t.Helper()
	for i := 0; ; i++ {
		c.breaker.mu.Lock()
		p := c.breaker.pending
		c.breaker.mu.Unlock()
		if p == n {
			return
		}
		if i > 10000 {
			t.Fatalf("pending = %d, want %d", p, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRetryBudget(t *testing.T) {
	c, _ := newCluster(t, config.Cluster{Protocol: config.HTTP2, Limits: config.Limits{
		MaxConnections: 100, MaxRequests: 100, MaxPendingRequests: 100, RetryBudgetPercent: 20, MinRetryConcurrency: 1,
	}}, endpoints([]string{"a:1"}))
	var releases []func()
	for range 10 {
		r, _ := c.Acquire(context.Background())
		releases = append(releases, r)
	}
	// 20% of 10 active requests: two retries.
	for i := range 2 {
		if _, err := c.AcquireRetry(); err != nil {
			t.Fatalf("retry %d within budget refused: %v", i, err)
		}
	}
	if _, err := c.AcquireRetry(); err == nil {
		t.Fatal("third retry exceeded the 20% budget but was admitted")
	}
	for _, r := range releases {
		r()
	}
}
