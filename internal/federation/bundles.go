package federation

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// BundlePath is where the bundle endpoint serves this trust domain's
// bundle.
const BundlePath = "/bundle"

// bundleRefreshHint tells peers how often to fetch the bundle again: well
// within a root rotation's overlap of one certificate lifetime.
const bundleRefreshHint = 5 * time.Minute

// BundleServer serves the operator's trust domain bundle at its SPIFFE
// bundle endpoint with the https_spiffe profile: over TLS with the
// operator's own SVID, which peers authenticate by its SPIFFE ID.
func BundleServer(trust *Trust, td spiffeid.TrustDomain) (*http.Server, error) {
	h, err := federation.NewHandler(td, bundleSource{trust})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(BundlePath, h)
	return &http.Server{Handler: mux, TLSConfig: tlsconfig.TLSServerConfig(trust), ReadHeaderTimeout: 10 * time.Second}, nil
}

type bundleSource struct{ t *Trust }

func (b bundleSource) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	roots := b.t.Bundle(td)
	if len(roots) == 0 {
		return nil, fmt.Errorf("no bundle for %s yet", td)
	}
	bundle := spiffebundle.FromX509Authorities(td, roots)
	bundle.SetRefreshHint(bundleRefreshHint)
	return bundle, nil
}

// BundlePeer says where a peer's bundle endpoint is and who serves it.
type BundlePeer struct {
	TrustDomain spiffeid.TrustDomain
	// URL of its bundle endpoint, and the SPIFFE ID it must present.
	URL        string
	EndpointID spiffeid.ID
	// Refresh is how often the bundle is fetched again; the peer's refresh
	// hint, when shorter, wins.
	Refresh time.Duration
}

// BundleStatus is what a BundleRefresher knows of a peer's bundle.
type BundleStatus struct {
	LastRefresh time.Time
	Err         error
}

// BundleRefresher keeps a peer's trust bundle current in Trust: it fetches
// it from the peer's bundle endpoint, authenticating the endpoint with the
// bundle it already holds (initially the one from the MeshPeer's Secret),
// and installs each new one. A fetch that fails keeps the last bundle.
type BundleRefresher struct {
	Peer     BundlePeer
	Trust    *Trust
	OnChange func()
	Log      *slog.Logger

	mu     sync.Mutex
	status BundleStatus
}

// Status returns the last refresh and error.
func (r *BundleRefresher) Status() BundleStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Run refreshes until ctx ends.
func (r *BundleRefresher) Run(ctx context.Context) {
	for {
		wait := r.Peer.Refresh
		bundle, err := r.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		changed := false
		if err == nil {
			changed = r.Trust.UpdateBundle(r.Peer.TrustDomain, bundle.X509Authorities())
			if hint, ok := bundle.RefreshHint(); ok && hint > 0 && hint < wait {
				wait = hint
			}
		} else {
			r.Log.Warn("fetching a peer's trust bundle; keeping the last one", "trust_domain", r.Peer.TrustDomain.String(), "url", r.Peer.URL, "error", err)
			wait = min(wait, 10*time.Second)
		}
		r.mu.Lock()
		changed = changed || errText(r.status.Err) != errText(err) || r.status.LastRefresh.IsZero() && err == nil
		r.status.Err = err
		if err == nil {
			r.status.LastRefresh = time.Now()
		}
		r.mu.Unlock()
		if changed && r.OnChange != nil {
			r.OnChange()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (r *BundleRefresher) fetch(ctx context.Context) (*spiffebundle.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := federation.FetchBundle(ctx, r.Peer.TrustDomain, r.Peer.URL, federation.WithSPIFFEAuth(r.Trust, r.Peer.EndpointID))
	if err != nil {
		return nil, err
	}
	if len(b.X509Authorities()) == 0 {
		return nil, fmt.Errorf("the bundle endpoint %s served a bundle without X.509 authorities; keeping the last one", r.Peer.URL)
	}
	return b, nil
}
