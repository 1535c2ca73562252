package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// The proxy stays small: it never links Kubernetes client libraries or
// controller-runtime (DESIGN.md, import direction).
func TestProxyDoesNotLinkKubernetesLibraries(t *testing.T) {
	out, err := exec.CommandContext(context.Background(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/apimachinery", "k8s.io/client-go", "k8s.io/api/", "sigs.k8s.io/controller-runtime", "sigs.k8s.io/gateway-api"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("plexus-proxy depends on %s", pkg)
			}
		}
	}
}
