package sidecar

import (
	"context"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/metrics"
)

// startWorkloadAPI takes the proxy's certificate and trust bundles from a
// SPIFFE Workload API (a SPIRE agent) at socket, such as
// unix:///run/spire/agent-sockets/spire-agent.sock, following every update
// the agent pushes until ctx ends. The proxy is not ready before the first.
func startWorkloadAPI(ctx context.Context, socket string, p *Proxy, m *metrics.Metrics, log *slog.Logger) (func(), error) {
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(socket))
	if err != nil {
		return nil, err
	}
	p.ExpectIdentity()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = client.WatchX509Context(ctx, &x509Watcher{p: p, m: m, log: log})
	}()
	return func() { <-done; _ = client.Close() }, nil
}

// x509Watcher installs what the Workload API sends: the first SVID as the
// proxy's certificate, its trust domain's bundle as the validation
// secret, and every other trust domain's bundle under its SPIFFE ID for
// federation.
type x509Watcher struct {
	p   *Proxy
	m   *metrics.Metrics
	log *slog.Logger
}

func (w *x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	if len(c.SVIDs) == 0 {
		return
	}
	svid := c.SVIDs[0]
	secrets := []*config.Secret{{Name: nodemeta.CertificateSecret, SVID: svid}}
	for _, b := range c.Bundles.Bundles() {
		name := b.TrustDomain().IDString()
		if b.TrustDomain() == svid.ID.TrustDomain() {
			name = nodemeta.RootSecret
		}
		secrets = append(secrets, &config.Secret{Name: name, Roots: b.X509Authorities()})
	}
	w.p.SetIdentity(secrets...)
	w.m.CertificateFetched(nil, svid.Certificates[0].NotAfter)
	w.m.SetTrustDomain(svid.ID.TrustDomain().Name())
	w.log.Info("workload certificate from the Workload API", "id", svid.ID.String(), "expires", svid.Certificates[0].NotAfter.Format(time.RFC3339))
}

func (w *x509Watcher) OnX509ContextWatchError(err error) {
	if err != nil {
		w.m.CertificateFetched(err, time.Time{})
		w.log.Warn("SPIFFE Workload API", "error", err)
	}
}
