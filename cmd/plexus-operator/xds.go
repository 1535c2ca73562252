package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/credentials"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/plexus-mesh/plexus/controllers"
	"github.com/plexus-mesh/plexus/internal/identity"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// addXDS adds the xDS server and the Kubernetes provider that feeds it.
// Every replica serves xDS (proxies may connect to any), so it runs
// without leader election.
func addXDS(mgr ctrl.Manager, server *ads.Server, publisher controllers.Publisher, addr string, serving xdsServing, fed *operatorFederation, refresh <-chan event.GenericEvent, leader func() bool) error {
	gateway := controllers.GatewayAPIInstalled(mgr.GetRESTMapper())
	if !gateway {
		ctrl.Log.Info("the Gateway API CRDs are not installed: HTTPRoutes and GRPCRoutes are ignored until they are")
	}
	mcs := controllers.MCSInstalled(mgr.GetRESTMapper())
	if !mcs {
		ctrl.Log.Info("the MCS API CRDs (ServiceExport, ServiceImport) are not installed: nothing is exported, and imports get no ServiceImport")
	}
	r := &controllers.MeshConfigReconciler{Client: mgr.GetClient(), Publisher: publisher, GatewayAPI: gateway, MCS: mcs, Imports: fed.imports, Trigger: refresh, MayWrite: leader,
		FederationAddress: fed.cfg.federationTarget()}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the mesh config controller: %w", err)
	}
	return mgr.Add(xdsRunnable{server: server, addr: addr, serving: serving})
}

type xdsRunnable struct {
	server  *ads.Server
	addr    string
	serving xdsServing
}

var _ manager.LeaderElectionRunnable = xdsRunnable{}

func (xdsRunnable) NeedLeaderElection() bool { return false }

func (x xdsRunnable) Start(ctx context.Context) error {
	ln, err := listenGRPC(ctx, x.addr)
	if err != nil {
		return fmt.Errorf("xDS address %s: %w (choose another with --xds-address)", x.addr, err)
	}
	go x.server.Run(ctx)
	return x.serving.serve(ctx, ln)
}

// xDS mTLS modes (--xds-mtls-mode).
const (
	xdsStrict     = "strict"
	xdsPermissive = "permissive"
)

// xdsServing serves xDS over mutual TLS: the control plane presents a
// certificate from the mesh CA for hosts, and a proxy its workload
// certificate, which must chain to the mesh's current roots (both during
// a root rotation). The ads server then holds each proxy to the identity
// it presents. Plaintext connections reach the ads server too, on the
// same port: in permissive mode it serves them, in strict mode it refuses
// them with a message the proxy logs, and counts them either way.
type xdsServing struct {
	ads       *ads.Server
	mode      string
	authority *identity.Authority
	hosts     []string
}

// serve serves xDS on ln until ctx ends, then stops gracefully.
func (x xdsServing) serve(ctx context.Context, ln net.Listener) error {
	serving := &identity.ServingCertificates{CA: x.authority.CA, Hosts: x.hosts}
	creds := grpc.Creds(untilCertificateExpires{credentials.NewTLS(&tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: serving.GetCertificate,
		ClientAuth:     tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyWorkload(x.authority.CA(), raw)
		},
		// Go does not call VerifyPeerCertificate on a resumed session;
		// xDS connections are long-lived, so every one is verified in full.
		SessionTicketsDisabled: true,
	})})
	split := splitTLS(ln)
	servers := map[*grpc.Server]net.Listener{
		grpc.NewServer(creds, xdsKeepalive): split.tls,
		grpc.NewServer(xdsKeepalive):        split.plain,
	}
	errs := make(chan error, len(servers))
	for g, l := range servers {
		x.ads.Register(g)
		go func() { errs <- g.Serve(l) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	for g := range servers {
		g.GracefulStop()
	}
	split.close(nil)
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving xDS: %w", err)
	}
	return nil
}

// untilCertificateExpires closes each connection when the client
// certificate it was opened with expires: the proxy, which renews its
// certificate at half life, reconnects with the new one and is verified
// and authorized again. (Peer identity is per connection, so ending
// streams alone would not do.)
type untilCertificateExpires struct {
	credentials.TransportCredentials
}

func (u untilCertificateExpires) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, auth, err := u.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, auth, err
	}
	info, ok := auth.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return conn, auth, nil
	}
	notAfter := info.State.PeerCertificates[0].NotAfter
	for _, c := range info.State.PeerCertificates[1:] {
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	timer := time.AfterFunc(time.Until(notAfter), func() { _ = conn.Close() })
	return &timedConn{Conn: conn, timer: timer}, auth, nil
}

func (u untilCertificateExpires) Clone() credentials.TransportCredentials {
	return untilCertificateExpires{u.TransportCredentials.Clone()}
}

// timedConn stops its timer when it closes.
type timedConn struct {
	net.Conn
	timer *time.Timer
}

func (c *timedConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}

// xdsKeepalive lets proxies ping an idle connection every 10s or more.
var xdsKeepalive = grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true})

// verifyWorkload checks a workload certificate chain against the mesh's
// trust bundle.
func verifyWorkload(ca *identity.CA, raw [][]byte) error {
	if ca == nil {
		return errors.New("the mesh CA is not ready yet: create a Mesh")
	}
	_, _, err := x509svid.ParseAndVerify(raw, x509bundle.FromX509Authorities(ca.TrustDomain(), ca.Roots()))
	return err
}

// listenHosts are the specific IPs among addresses (host:port), which a
// serving certificate must name for clients that dial them; and
// localhost, the name clients verify a unix socket by.
func listenHosts(addrs ...string) []string {
	var out []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "unix:") && !slices.Contains(out, "localhost") {
			out = append(out, "localhost")
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err == nil && ip != nil && !ip.IsUnspecified() && !slices.Contains(out, host) {
			out = append(out, host)
		}
	}
	return out
}
