package federation

import (
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
)

// Server serves this cluster's exports to the operators of its peers.
type Server struct {
	fedpb.UnimplementedFederationServer
	log *slog.Logger
	// authorized says whether id is the operator of a declared peer.
	authorized func(spiffeid.ID) bool

	// Resync re-sends the export set this often even when it did not
	// change, so a peer sees how fresh its view is (sync lag) and a stream
	// that silently died is noticed. Default: DefaultResync.
	Resync time.Duration

	mu      sync.Mutex
	set     *fedpb.ExportSet
	changed chan struct{}
}

// DefaultResync is how often the export set is re-sent unchanged.
const DefaultResync = 30 * time.Second

// NewServer serves exports to the peers' operators authorized accepts.
// Authorization is checked again whenever the peers change (PeersChanged)
// and at every resync, so a removed peer's open stream ends.
func NewServer(log *slog.Logger, authorized func(spiffeid.ID) bool) *Server {
	return &Server{log: log, authorized: authorized, changed: make(chan struct{})}
}

// GRPC returns a gRPC server for the federation API over mTLS with id.
func (s *Server) GRPC(id Identity) *grpc.Server {
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS(id))),
		// Watchers ping idle connections (watcherKeepalive); allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: watcherKeepalive / 2, PermitWithoutStream: true}))
	fedpb.RegisterFederationServer(g, s)
	return g
}

// Update replaces the export set; every watching peer receives it.
func (s *Server) Update(set *fedpb.ExportSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if proto.Equal(s.set, set) {
		return
	}
	s.set = set
	s.wake()
}

// PeersChanged makes every open stream check its peer is still
// authorized.
func (s *Server) PeersChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wake()
}

func (s *Server) wake() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) current() (*fedpb.ExportSet, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, s.changed
}

// Watch implements fedpb.FederationServer.
func (s *Server) Watch(req *fedpb.WatchRequest, stream grpc.ServerStreamingServer[fedpb.ExportSet]) error {
	id, err := peerID(stream.Context())
	if err != nil {
		return status.Errorf(codes.Unauthenticated, "federation needs mTLS with a SPIFFE ID: %v", err)
	}
	if !s.authorized(id) {
		s.log.Warn("refused a federation watch", "peer", id.String(), "cluster", req.GetCluster())
		return status.Errorf(codes.PermissionDenied, "%s is not the operator of a peer: declare its trust domain in a MeshPeer (spec.operatorSPIFFEID names the operator when it does not run in %s)", id, DefaultOperatorNamespace)
	}
	s.log.Info("peer watching exports", "peer", id.String(), "cluster", req.GetCluster())
	resync := s.Resync
	if resync == 0 {
		resync = DefaultResync
	}
	for {
		set, changed := s.current()
		if !s.authorized(id) {
			s.log.Warn("ending a federation watch: the peer is no longer declared", "peer", id.String(), "cluster", req.GetCluster())
			return status.Errorf(codes.PermissionDenied, "%s is no longer the operator of a peer: its MeshPeer was removed or changed", id)
		}
		if set != nil {
			if err := stream.Send(set); err != nil {
				return err
			}
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		case <-time.After(resync):
		}
	}
}
