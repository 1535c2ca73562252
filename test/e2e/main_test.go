package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// bin holds the binaries under test, built once, readable by the proxy's
// own user.
var bin struct{ dir, operator, proxy string }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test here needs root; m.Run reports them skipped.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "plexus-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin.dir, bin.operator, bin.proxy = dir, filepath.Join(dir, "plexus-operator"), filepath.Join(dir, "plexus-proxy")
	for out, pkg := range map[string]string{bin.operator: "./cmd/plexus-operator", bin.proxy: "./cmd/plexus-proxy"} {
		cmd := exec.CommandContext(context.Background(), "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			return 1
		}
	}
	return m.Run()
}
