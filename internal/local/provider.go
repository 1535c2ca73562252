package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Publisher receives each new mesh model (the ADS server).
type Publisher interface {
	Update(m *model.Mesh)
}

// Config configures a Provider.
type Config struct {
	// Dir holds the mesh configuration files.
	Dir string
	// Interval is how often Dir is checked for changes. Default: 1s.
	Interval time.Duration
	// Proxies returns the connected proxies' metadata by node ID.
	Proxies func() map[string]nodemeta.Metadata
	// Imports returns the services peers export now; nil for none.
	Imports func() []*model.Import
	// FederationAddress is where the east-west gateway forwards peers to
	// the federation API; "" for nowhere.
	FederationAddress string
	Publisher         Publisher
	// Loaded, when set, receives every configuration that loads (its
	// MeshPeers and Secrets drive federation).
	Loaded func(*Loaded)
	Log    *slog.Logger
}

// Provider publishes the mesh built from a directory and the connected
// proxies, again whenever a file or the set of proxies changes. A file that
// does not load is reported and the last good mesh stays in effect.
type Provider struct {
	cfg     Config
	changed chan struct{}
	// importProblems were last logged; logged again when they change.
	importProblems string
}

// New creates a provider.
func New(cfg Config) *Provider {
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	return &Provider{cfg: cfg, changed: make(chan struct{}, 1)}
}

// ProxiesChanged asks for a rebuild; the ADS server calls it when proxies
// come and go, and federation when imports change.
func (p *Provider) ProxiesChanged() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Run loads the directory, failing if it cannot at start, then follows
// changes until ctx ends.
func (p *Provider) Run(ctx context.Context) error {
	if err := p.load(); err != nil {
		return err
	}
	sig := signature(p.cfg.Dir)
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			next := signature(p.cfg.Dir)
			if next == sig {
				continue
			}
			sig = next
		case <-p.changed:
		}
		if err := p.load(); err != nil {
			p.cfg.Log.Error("mesh configuration not applied; the last good one stays in effect", "dir", p.cfg.Dir, "error", err)
		}
	}
}

func (p *Provider) load() error {
	in := Inputs{Proxies: p.cfg.Proxies(), FederationAddress: p.cfg.FederationAddress}
	if p.cfg.Imports != nil {
		in.Imports = p.cfg.Imports()
	}
	l, err := LoadAll(p.cfg.Dir, in)
	if err != nil {
		return err
	}
	if p.cfg.Loaded != nil {
		p.cfg.Loaded(l)
	}
	p.cfg.Publisher.Update(l.Mesh)
	if problems := strings.Join(l.Mesh.ImportProblems, "\n"); problems != p.importProblems {
		p.importProblems = problems
		for _, msg := range l.Mesh.ImportProblems {
			p.cfg.Log.Warn("a peer's export not imported", "problem", msg)
		}
	}
	return nil
}

// signature changes when any file in dir is added, removed or modified.
func signature(dir string) string {
	h := sha256.New()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}
