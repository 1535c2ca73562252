// Package xdsclient keeps a proxy configured by the control plane over an
// aggregated (ADS) xDS stream: it subscribes to clusters and listeners and
// to the endpoints, routes and secrets they name, applies each update, ACKs
// what applied and NACKs what did not (keeping the last good
// configuration), and reconnects with jittered backoff while the proxy
// keeps serving.
package xdsclient

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/plexus-mesh/plexus/sidecar/config"
)

// Observer is told about updates and the connection, for metrics.
type Observer interface {
	ConfigUpdate(typeURL string, accepted bool)
	XDSConnected(up bool)
}

// Target is what the client configures.
type Target interface {
	Snapshot() *config.Snapshot
	Apply(*config.Snapshot) error
}

// Config configures a Client.
type Config struct {
	// Conn is the gRPC connection to the control plane.
	Conn     grpc.ClientConnInterface
	Node     *corev3.Node
	Target   Target
	Observer Observer
	Log      *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnects.
	// Defaults: 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// Client is an ADS client.
type Client struct {
	cfg Config
	// Per type: the last accepted version, and the names subscribed to
	// (nil for the wildcard types: clusters and listeners).
	accepted   map[string]string
	subscribed map[string][]string
	nonces     map[string]string
	// refused remembers the last refused version per type, and backoff
	// how long to wait before refusing it again: a control plane that
	// resends what was refused must not spin the proxy and itself.
	refused map[string]string
	backoff map[string]time.Duration
	sendMu  sync.Mutex // a stream allows one sender at a time
}

// New creates a client.
func New(cfg Config) *Client {
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return &Client{cfg: cfg, accepted: map[string]string{}, subscribed: map[string][]string{}, nonces: map[string]string{},
		refused: map[string]string{}, backoff: map[string]time.Duration{}}
}

// Run keeps a stream open until ctx ends, reconnecting after failures.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for {
		start := time.Now()
		err := c.stream(ctx)
		c.cfg.Observer.XDSConnected(false)
		if ctx.Err() != nil {
			return nil //nolint:nilerr // the stream error is the cancellation itself
		}
		if time.Since(start) > 2*c.cfg.MaxBackoff {
			backoff = c.cfg.MinBackoff // the stream was healthy for a while
		}
		// Full jitter spreads reconnects of many proxies after an outage.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		c.cfg.Log.Warn("xDS stream ended; serving the last good configuration until reconnected", "error", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

func (c *Client) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(c.cfg.Conn)
	s, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening the ADS stream: %w", err)
	}
	// A new stream starts without nonces; versions tell the server what
	// this proxy already has.
	clear(c.nonces)
	first := true
	for _, t := range config.TypeURLs {
		if isWildcard(t) || len(c.subscribed[t]) > 0 {
			if err := c.send(s, t, c.accepted[t], nil, first); err != nil {
				return err
			}
			first = false
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return fmt.Errorf("receiving from the control plane: %w", err)
		}
		c.cfg.Observer.XDSConnected(true)
		if err := c.handle(s, resp); err != nil {
			return err
		}
	}
}

func isWildcard(typeURL string) bool {
	return typeURL == resourcev3.ClusterType || typeURL == resourcev3.ListenerType
}

// handle applies one response and ACKs or NACKs it, then updates the
// subscriptions the new configuration needs.
func (c *Client) handle(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, resp *discoveryv3.DiscoveryResponse) error {
	t := resp.GetTypeUrl()
	c.nonces[t] = resp.GetNonce()
	next, err := c.cfg.Target.Snapshot().With(t, resp.GetVersionInfo(), resp.GetResources())
	if err == nil {
		err = c.cfg.Target.Apply(next)
	}
	if err != nil {
		c.cfg.Observer.ConfigUpdate(t, false)
		nack := c.request(t, c.accepted[t], &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}, false)
		if c.refused[t] != resp.GetVersionInfo() {
			c.refused[t], c.backoff[t] = resp.GetVersionInfo(), time.Second
			c.cfg.Log.Error("refusing configuration from the control plane; keeping the last good one",
				"type", t, "version", resp.GetVersionInfo(), "error", err)
			return c.sendRequest(s, nack)
		}
		// The same refused version again: answer later, so that a control
		// plane resending it on every NACK does not spin.
		delay := c.backoff[t]
		c.backoff[t] = min(2*delay, c.cfg.MaxBackoff)
		time.AfterFunc(delay, func() { _ = c.sendRequest(s, nack) })
		return nil
	}
	delete(c.refused, t)
	c.cfg.Observer.ConfigUpdate(t, true)
	c.accepted[t] = resp.GetVersionInfo()
	if err := c.send(s, t, resp.GetVersionInfo(), nil, false); err != nil {
		return err
	}
	return c.resubscribe(s, next)
}

// resubscribe asks for the endpoints, routes and secrets the current
// clusters and listeners name, when that set changed.
func (c *Client) resubscribe(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, snap *config.Snapshot) error {
	want := map[string][]string{
		resourcev3.EndpointType: {},
		resourcev3.RouteType:    {},
		resourcev3.SecretType:   {},
	}
	add := func(t, name string) {
		if name != "" && !slices.Contains(want[t], name) {
			want[t] = append(want[t], name)
		}
	}
	for _, cl := range snap.Clusters {
		add(resourcev3.EndpointType, cl.EDSName)
		if cl.TLS != nil {
			add(resourcev3.SecretType, cl.TLS.CertificateSecret)
			add(resourcev3.SecretType, cl.TLS.ValidationSecret)
		}
	}
	for _, l := range snap.Listeners {
		for _, fc := range append(slices.Clone(l.FilterChains), l.DefaultChain) {
			if fc == nil {
				continue
			}
			if fc.HTTP != nil {
				add(resourcev3.RouteType, fc.HTTP.RouteName)
			}
			if fc.TLS != nil {
				add(resourcev3.SecretType, fc.TLS.CertificateSecret)
				add(resourcev3.SecretType, fc.TLS.ValidationSecret)
			}
		}
	}
	for _, t := range []string{resourcev3.EndpointType, resourcev3.RouteType, resourcev3.SecretType} {
		names := want[t]
		sort.Strings(names)
		if slices.Equal(names, c.subscribed[t]) {
			continue
		}
		c.subscribed[t] = names
		if len(names) == 0 {
			// An empty list would mean "everything" to a SotW server; the
			// resources no longer named are simply unused.
			continue
		}
		if err := c.send(s, t, c.accepted[t], nil, false); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) send(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, typeURL, version string, nack *status.Status, withNode bool) error {
	return c.sendRequest(s, c.request(typeURL, version, nack, withNode))
}

// request builds a request with the current nonce and subscription.
func (c *Client) request(typeURL, version string, nack *status.Status, withNode bool) *discoveryv3.DiscoveryRequest {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       typeURL,
		VersionInfo:   version,
		ResponseNonce: c.nonces[typeURL],
		ResourceNames: c.subscribed[typeURL],
		ErrorDetail:   nack,
	}
	if withNode {
		req.Node = c.cfg.Node
	}
	return req
}

func (c *Client) sendRequest(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, req *discoveryv3.DiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := s.Send(req); err != nil {
		return fmt.Errorf("sending a %s request: %w", req.GetTypeUrl(), err)
	}
	return nil
}
