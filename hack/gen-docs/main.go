// Command gen-docs writes the reference pages generated from code:
// docs/reference/metrics.md (internal/telemetry),
// docs/reference/alerts.md (internal/monitoring) and docs/reference/api.md
// (the CRDs, generated from api/v1alpha1). "make docs" runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/plexus-mesh/plexus/internal/monitoring"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

func main() {
	api, err := apiReference("config/crd/bases")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
	pages := map[string]string{
		"docs/reference/api.md":     api,
		"docs/reference/metrics.md": telemetry.Reference(),
		"docs/reference/alerts.md":  monitoring.Reference(),
	}
	for path, text := range pages {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen-docs:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen-docs:", err)
			os.Exit(1)
		}
	}
}
