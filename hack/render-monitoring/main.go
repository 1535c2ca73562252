// Command render-monitoring writes the monitoring objects a Mesh with
// every default would get (internal/monitoring) into config/prometheus and
// config/grafana, for installs without the operator's own reconciliation.
// "make manifests" runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/plexus-mesh/plexus/internal/monitoring"
)

func main() {
	if err := run("config"); err != nil {
		fmt.Fprintln(os.Stderr, "render-monitoring:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := monitoring.Manifests(monitoring.StaticOptions())
	if err != nil {
		return err
	}
	for _, sub := range []string{"prometheus", "grafana"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}
