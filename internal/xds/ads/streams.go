package ads

import (
	"net/netip"
	"sort"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// streamRequest tracks the proxy behind a stream and records NACKs.
func (s *Server) streamRequest(stream int64, req *discoveryv3.DiscoveryRequest) error {
	s.mu.Lock()
	id, known := s.streams[stream]
	if known && req.GetNode().GetId() != "" && req.GetNode().GetId() != id {
		s.mu.Unlock()
		return status.Errorf(codes.InvalidArgument, "this stream belongs to node %s; a request may not name node %s: open a stream per node", id, req.GetNode().GetId())
	}
	if !known && req.GetNode().GetId() != "" {
		if err := s.register(s.streams, s.peers, stream, req.GetNode()); err != nil {
			s.mu.Unlock()
			s.cfg.Log.Warn("refused a proxy", "node", req.GetNode().GetId(), "error", err)
			return err
		}
	}
	if id == "" {
		id = req.GetNode().GetId()
	}
	if d := req.GetErrorDetail(); d != nil {
		n := NACK{Node: id, TypeURL: req.GetTypeUrl(), Version: req.GetVersionInfo(), Message: d.GetMessage(), At: time.Now()}
		s.nacks[id] = n
		s.mu.Unlock()
		s.nackCount.WithLabelValues(req.GetTypeUrl()).Inc()
		s.cfg.Log.Warn("a proxy refused its configuration", "node", n.Node, "type", n.TypeURL, "reason", n.Message)
		return nil
	}
	// An ACK of the type it refused clears the proxy's NACK.
	if n, ok := s.nacks[id]; ok && n.TypeURL == req.GetTypeUrl() && req.GetResponseNonce() != "" {
		delete(s.nacks, id)
	}
	s.mu.Unlock()
	return nil
}

// deltaStreamRequest tracks proxies on incremental (delta) streams.
func (s *Server) deltaStreamRequest(stream int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, known := s.deltas[stream]
	if known && req.GetNode().GetId() != "" && req.GetNode().GetId() != id {
		return status.Errorf(codes.InvalidArgument, "this stream belongs to node %s; a request may not name node %s: open a stream per node", id, req.GetNode().GetId())
	}
	if !known && req.GetNode().GetId() != "" {
		if err := s.register(s.deltas, s.deltaPeers, stream, req.GetNode()); err != nil {
			s.cfg.Log.Warn("refused a proxy", "node", req.GetNode().GetId(), "error", err)
			return err
		}
	}
	if d := req.GetErrorDetail(); d != nil {
		id := s.deltas[stream]
		s.nacks[id] = NACK{Node: id, TypeURL: req.GetTypeUrl(), Message: d.GetMessage(), At: time.Now()}
		s.nackCount.WithLabelValues(req.GetTypeUrl()).Inc()
	}
	return nil
}

func (s *Server) deltaStreamClosed(stream int64, _ *corev3.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed(s.deltas, stream)
	delete(s.deltaPeers, stream)
}

// register starts tracking a proxy on a stream of the given kind; the
// caller holds s.mu. A new proxy gets its configuration at the next push,
// which it triggers.
func (s *Server) register(streams map[int64]string, peers map[int64]spiffeid.ID, stream int64, node *corev3.Node) error {
	_, mtls := peers[stream]
	if err := s.authorize(peers, stream, node); err != nil {
		s.countStream(mtls, false)
		return err
	}
	s.countStream(mtls, true)
	id := node.GetId()
	streams[stream] = id
	p := s.proxies[id]
	if p == nil {
		meta, err := nodemeta.FromStruct(node.GetMetadata())
		if err != nil {
			s.cfg.Log.Warn("proxy node metadata is incomplete; it gets outbound configuration only", "node", id, "error", err)
			meta = nil
		}
		p = &proxyState{node: node, meta: meta, identity: peers[stream]}
		s.proxies[id] = p
		delete(s.versions, id)
		// A push that began before an earlier proxy of this ID left may
		// have set its snapshot again: a new proxy starts from none.
		s.cache.ClearSnapshot(id)
		if s.pending.IsZero() {
			s.pending = time.Now()
		}
		go s.trigger()
		s.notifyProxies()
	}
	p.streams++
	s.connected.Set(float64(len(s.proxies)))
	return nil
}

func (s *Server) streamClosed(stream int64, _ *corev3.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed(s.streams, stream)
	delete(s.peers, stream)
}

// closed stops tracking a stream; the caller holds s.mu.
func (s *Server) closed(streams map[int64]string, stream int64) {
	id, ok := streams[stream]
	if !ok {
		return
	}
	delete(streams, stream)
	if p := s.proxies[id]; p != nil {
		p.streams--
		if p.streams <= 0 {
			delete(s.proxies, id)
			delete(s.versions, id)
			delete(s.nacks, id)
			s.cache.ClearSnapshot(id)
			s.notifyProxies()
		}
	}
	s.connected.Set(float64(len(s.proxies)))
}

func (s *Server) notifyProxies() {
	if s.cfg.ProxiesChanged != nil {
		go s.cfg.ProxiesChanged()
	}
}

// ProxyMetadata returns what each connected proxy says about its
// workload, by node ID (proxies without valid metadata are left out).
func (s *Server) ProxyMetadata() map[string]nodemeta.Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]nodemeta.Metadata, len(s.proxies))
	for id, p := range s.proxies {
		if p.meta != nil {
			out[id] = *p.meta
		}
	}
	return out
}

// Connected returns the IDs of connected proxies, sorted.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.proxies))
	for id := range s.proxies {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// NACKs returns the last refused update of each proxy that refused one.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NACK, 0, len(s.nacks))
	for _, n := range s.nacks {
		out = append(out, n)
	}
	return out
}

// selfDescribed is the workload a proxy describes in its node metadata.
func selfDescribed(meta *nodemeta.Metadata) *model.Workload {
	addr, _ := netip.ParseAddr(meta.IP)
	w := &model.Workload{
		Key:            model.NamespacedName{Namespace: meta.Namespace, Name: meta.Workload},
		Name:           meta.Workload,
		ServiceAccount: meta.ServiceAccount,
		Address:        addr,
		Labels:         meta.Labels,
	}
	// The proxy checked its egress rules at startup; rules that do not
	// parse here are dropped, leaving everything it may see.
	w.Egress, _ = model.ParseEgress(meta.Egress, meta.Namespace)
	if meta.MTLSMode != "" {
		w.MTLS, _ = model.ParseMTLSMode(meta.MTLSMode)
	}
	for _, p := range meta.Ports {
		w.Ports = append(w.Ports, model.ServicePort{Port: p.Port, Protocol: nodemetaProtocol(p.Protocol)})
	}
	return w
}

func nodemetaProtocol(p string) model.Protocol {
	return model.ProtocolFor(p, "")
}
