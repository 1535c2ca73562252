package federation

import (
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/plexus-mesh/plexus/internal/federation/fedpb"
)

// Server serves this cluster's exports to the operators of its peers.
type Server struct {
	fedpb.UnimplementedFederationServer
	log *slog.Logger
	// isPeer says whether a trust domain belongs to a declared peer.
	isPeer func(spiffeid.TrustDomain) bool

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

// NewServer serves exports to the operators of the trust domains isPeer
// accepts.
func NewServer(log *slog.Logger, isPeer func(spiffeid.TrustDomain) bool) *Server {
	return &Server{log: log, isPeer: isPeer, changed: make(chan struct{})}
}

// GRPC returns a gRPC server for the federation API over mTLS with id.
func (s *Server) GRPC(id Identity) *grpc.Server {
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS(id))))
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
	if !s.isPeer(id.TrustDomain()) || !IsOperator(id, id.TrustDomain()) {
		s.log.Warn("refused a federation watch", "peer", id.String(), "cluster", req.GetCluster())
		return status.Errorf(codes.PermissionDenied, "%s is not the operator of a peer: declare its trust domain in a MeshPeer", id)
	}
	s.log.Info("peer watching exports", "peer", id.String(), "cluster", req.GetCluster())
	resync := s.Resync
	if resync == 0 {
		resync = DefaultResync
	}
	for {
		set, changed := s.current()
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
