// Package ads serves the mesh's configuration to proxies over the
// aggregated xDS protocol. It keeps one snapshot per connected proxy,
// translated from the current mesh model for that proxy, and pushes a new
// one when the model changes: changes that arrive in a burst are debounced
// into a single push. It tracks connected proxies and the updates they
// refuse (NACKs), and publishes push latency and size.
package ads

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/telemetry"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/internal/xds/translate"
)

// Config configures a Server.
type Config struct {
	Log *slog.Logger
	// Debounce is how long the server waits for more changes before
	// pushing. Default: 100ms.
	Debounce time.Duration
	// MaxDelay bounds how long a stream of changes can hold a push back.
	// Default: 1s.
	MaxDelay time.Duration
	// Registerer receives the control plane metrics; nil skips them.
	Registerer prometheus.Registerer
	// ProxiesChanged, when set, is called (in its own goroutine) when a
	// proxy connects or disconnects, for providers whose endpoints are the
	// connected proxies (local mode).
	ProxiesChanged func()
	// RequireIdentity refuses streams without a client certificate: the
	// gRPC server must then verify client certificates (mutual TLS).
	// Streams that come with one are always held to it.
	RequireIdentity bool
	// Gateway is the service account that alone may claim the gateway
	// role over mTLS; zero lets any identity claim it.
	Gateway model.NamespacedName
}

// NACK is an update a proxy refused.
type NACK struct {
	Node    string
	TypeURL string
	Version string
	Message string
	At      time.Time
}

// Server is an ADS server.
type Server struct {
	cfg   Config
	cache cachev3.SnapshotCache
	xds   serverv3.Server

	mu         sync.Mutex
	mesh       *model.Mesh
	accounts   map[model.NamespacedName]string // the model's workloads' service accounts, by pod
	proxies    map[string]*proxyState          // by node ID
	streams    map[int64]string                // stream ID -> node ID
	deltas     map[int64]string                // incremental stream ID -> node ID
	peers      map[int64]spiffeid.ID           // stream ID -> client identity (mTLS)
	deltaPeers map[int64]spiffeid.ID           // incremental stream ID -> client identity
	nacks      map[string]NACK                 // last NACK per node
	versions   map[string]string               // last snapshot version per node
	pending    time.Time                       // first unpushed change; zero when none
	triggered  chan struct{}

	connected              prometheus.Gauge
	pushDuration, pushSize prometheus.Observer
	nackCount              *prometheus.CounterVec
	streamCount            *prometheus.CounterVec
}

type proxyState struct {
	node    *corev3.Node
	meta    *nodemeta.Metadata
	streams int
	// identity is the client certificate's ID; zero over plaintext.
	identity spiffeid.ID
}

// New creates a server. Register it on a gRPC server and Run it.
func New(cfg Config) *Server {
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = time.Second
	}
	s := &Server{
		cfg:        cfg,
		cache:      cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		proxies:    map[string]*proxyState{},
		streams:    map[int64]string{},
		deltas:     map[int64]string{},
		peers:      map[int64]spiffeid.ID{},
		deltaPeers: map[int64]spiffeid.ID{},
		nacks:      map[string]NACK{},
		versions:   map[string]string{},
		triggered:  make(chan struct{}, 1),
	}
	connected := telemetry.XDSConnectedProxies.GaugeVec()
	duration := telemetry.XDSPushDuration.HistogramVec()
	size := telemetry.XDSPushSize.HistogramVec()
	s.nackCount = telemetry.XDSNACKs.CounterVec()
	s.streamCount = telemetry.XDSStreams.CounterVec()
	s.connected, s.pushDuration, s.pushSize = connected.WithLabelValues(), duration.WithLabelValues(), size.WithLabelValues()
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(connected, duration, size, s.nackCount, s.streamCount)
	}
	s.xds = serverv3.NewServer(context.Background(), s.cache, serverv3.CallbackFuncs{
		StreamOpenFunc:         s.streamOpen(s.peers),
		DeltaStreamOpenFunc:    s.streamOpen(s.deltaPeers),
		StreamClosedFunc:       s.streamClosed,
		StreamRequestFunc:      s.streamRequest,
		DeltaStreamClosedFunc:  s.deltaStreamClosed,
		StreamDeltaRequestFunc: s.deltaStreamRequest,
	})
	return s
}

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Update makes m the mesh to serve; proxies get it after the debounce.
func (s *Server) Update(m *model.Mesh) {
	accounts := make(map[model.NamespacedName]string, len(m.Workloads))
	for _, w := range m.Workloads {
		accounts[w.Key] = w.ServiceAccount
	}
	s.mu.Lock()
	s.mesh = m
	s.accounts = accounts
	if s.pending.IsZero() {
		s.pending = time.Now()
	}
	s.mu.Unlock()
	s.trigger()
}

func (s *Server) trigger() {
	select {
	case s.triggered <- struct{}{}:
	default:
	}
}

// Run pushes changes until ctx ends.
func (s *Server) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.triggered:
		}
		// Wait for the burst to settle, but not beyond MaxDelay.
		deadline := time.Now().Add(s.cfg.MaxDelay)
		for settled := false; !settled; {
			wait := min(s.cfg.Debounce, time.Until(deadline))
			select {
			case <-ctx.Done():
				return
			case <-s.triggered:
				if time.Now().After(deadline) {
					settled = true
				}
			case <-time.After(wait):
				settled = true
			}
		}
		s.push()
	}
}

// push translates the current mesh for every connected proxy. The
// outbound part is the same for every proxy of a scope (namespace and
// egress rules): it is built, hashed and serialized once per scope and
// shared by their snapshots.
func (s *Server) push() {
	s.mu.Lock()
	m, started := s.mesh, s.pending
	s.pending = time.Time{}
	nodes := make([]*proxyState, 0, len(s.proxies))
	for _, p := range s.proxies {
		nodes = append(nodes, p)
	}
	s.mu.Unlock()
	if m == nil {
		return
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].node.GetId() < nodes[j].node.GetId() })
	shared := map[string]*part{}
	workloads := indexWorkloads(m)
	gateways := map[string]*part{} // by the address they listen on
	for _, p := range nodes {
		if p.meta != nil && p.meta.Role == nodemeta.RoleGateway {
			gw := gateways[p.meta.IP]
			if gw == nil {
				gw = newPart(translate.Gateway(m, p.meta.IP))
				gateways[p.meta.IP] = gw
			}
			if err := s.pushTo(m, p, nil, nil, gw); err != nil {
				s.cfg.Log.Error("building the configuration of a gateway", "node", p.node.GetId(), "error", err)
			}
			continue
		}
		w := workloadFor(workloads, p.meta)
		x := explicitOf(p.meta)
		scope := translate.ScopeOf(w)
		scope.Explicit = x != nil
		out := shared[scope.Key()]
		if out == nil {
			out = newPart(translate.Outbound(m, scope))
			shared[scope.Key()] = out
		}
		if err := s.pushTo(m, p, w, x, out); err != nil {
			s.cfg.Log.Error("building the configuration of a proxy", "node", p.node.GetId(), "error", err)
		}
	}
	if !started.IsZero() {
		s.pushDuration.Observe(time.Since(started).Seconds())
	}
}

// explicitOf is how a proxy without interception meets its traffic; nil
// for an intercepted one. Node metadata was validated on connection.
func explicitOf(meta *nodemeta.Metadata) *translate.Explicit {
	if meta == nil || meta.Interception != nodemeta.InterceptionNone {
		return nil
	}
	x := &translate.Explicit{Upstreams: meta.Upstreams}
	x.IP, _ = netip.ParseAddr(meta.IP)
	x.App, _ = netip.ParseAddr(meta.AppAddress)
	return x
}

// typeOrder lists the resource types a snapshot carries.
var typeOrder = [...]resourcev3.Type{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}

// part is translated resources with a hash per resource type and their
// serialized size. Per-type hashes give per-type versions, so a change to
// endpoints alone resends endpoints alone.
type part struct {
	hashes [len(typeOrder)]uint64
	size   int
	// wire are the resources as the cache serves them: serialized once,
	// here, however many proxies share them.
	wire [len(typeOrder)][]types.Resource
}

func lists(r *translate.Resources) [len(typeOrder)][]types.Resource {
	return [...][]types.Resource{asResources(r.Clusters), asResources(r.Endpoints), asResources(r.Listeners), asResources(r.Routes)}
}

func newPart(r *translate.Resources) *part {
	p := &part{}
	for i, list := range lists(r) {
		h := fnv.New64a()
		p.wire[i] = make([]types.Resource, 0, len(list))
		for _, msg := range list {
			b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			h.Write(b)
			p.size += len(b)
			p.wire[i] = append(p.wire[i], preserialized(msg, b))
		}
		p.hashes[i] = h.Sum64()
	}
	return p
}

func (s *Server) pushTo(m *model.Mesh, p *proxyState, w *model.Workload, x *translate.Explicit, out *part) error {
	wire, size := out.wire, out.size
	var versions [len(typeOrder)]string
	for i, h := range out.hashes {
		versions[i] = fmt.Sprintf("%016x", h)
	}
	if w != nil || x != nil {
		in := newPart(translate.Inbound(m, w, x))
		for i, h := range in.hashes {
			versions[i] += fmt.Sprintf("%016x", h)
			wire[i] = append(wire[i][:len(wire[i]):len(wire[i])], in.wire[i]...)
		}
		size += in.size
	}
	version := strings.Join(versions[:], ".")
	id := p.node.GetId()
	s.mu.Lock()
	// The proxy may have gone, and another taken its node ID, since the
	// push began: its configuration must not reach the newcomer.
	current := s.proxies[id] == p
	unchanged := s.versions[id] == version
	if current {
		s.versions[id] = version
	}
	s.mu.Unlock()
	if !current || unchanged {
		return nil // gone, or nothing new for this proxy: no push
	}
	snap := &cachev3.Snapshot{}
	for i, list := range wire {
		snap.Resources[cachev3.GetResponseType(typeOrder[i])] = cachev3.NewResources(versions[i], list)
	}
	s.pushSize.Observe(float64(size))
	err := s.cache.SetSnapshot(context.Background(), id, snap)
	s.mu.Lock()
	if s.proxies[id] != p { // it went while the snapshot was set
		s.cache.ClearSnapshot(id)
		if s.proxies[id] == nil {
			delete(s.versions, id)
		}
	}
	s.mu.Unlock()
	return err
}

func asResources[M types.Resource](list []M) []types.Resource {
	out := make([]types.Resource, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

// workloadKey finds a workload by namespace and address.
type workloadKey struct {
	namespace string
	addr      netip.Addr
}

// indexWorkloads indexes the model's workloads once per push, rather
// than scanning them for every proxy.
func indexWorkloads(m *model.Mesh) map[workloadKey]*model.Workload {
	out := make(map[workloadKey]*model.Workload, len(m.Workloads))
	for _, w := range m.Workloads { // sorted: the first of a duplicate wins
		if k := (workloadKey{w.Key.Namespace, w.Address}); out[k] == nil {
			out[k] = w
		}
	}
	return out
}

// workloadFor finds the proxy's workload: the model's (matched by
// namespace and address) when the provider knows it, else the one the proxy
// describes itself (local mode, VMs).
func workloadFor(workloads map[workloadKey]*model.Workload, meta *nodemeta.Metadata) *model.Workload {
	if meta == nil {
		return nil
	}
	if addr, err := netip.ParseAddr(meta.IP); err == nil {
		// A workload at the claimed address counts only if it runs as
		// the proxy's own service account (which mTLS proved).
		if w := workloads[workloadKey{meta.Namespace, addr}]; w != nil && w.ServiceAccount == meta.ServiceAccount {
			return w
		}
	}
	return selfDescribed(meta)
}
