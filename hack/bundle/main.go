// Command bundle writes the OLM bundle (bundle/manifests, bundle/metadata,
// bundle.Dockerfile) from the kustomize manifests in config/ (see
// internal/install). "make bundle" runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plexus-mesh/plexus/internal/install"
)

func main() {
	version := flag.String("version", install.Release, "the bundle's version, x.y.z; the images are tagged vx.y.z")
	flag.Parse()
	if err := run(".", *version); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(root, version string) error {
	files, err := install.Bundle(root, version)
	if err != nil {
		return err
	}
	// Files of a previous bundle that this one no longer has must go.
	for _, dir := range []string{"bundle/manifests", "bundle/metadata"} {
		if err := os.RemoveAll(filepath.Join(root, dir)); err != nil {
			return err
		}
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
