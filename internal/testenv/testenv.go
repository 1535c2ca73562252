// Package testenv starts a real kube-apiserver and etcd (controller-runtime
// envtest) with the Plexus CRDs installed, for tests. The binaries come from
// KUBEBUILDER_ASSETS, or are built into the cache by hack/envtest-assets.sh
// on first use, so "go test ./..." works on a fresh machine.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
)

const module = "github.com/plexus-mesh/plexus"

// Env is a running API server with the Plexus CRDs.
type Env struct {
	Config *rest.Config
	Scheme *runtime.Scheme
	Client client.Client

	env *envtest.Environment
}

// Start builds the API server binaries when needed, starts them, installs
// the CRDs from config/crd/bases (and from extraCRDDirs) and returns a
// client for them.
func Start(extraCRDDirs ...string) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if assets, err = buildAssets(root); err != nil {
			return nil, err
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := meshv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := gwapiv1.Install(scheme); err != nil {
		return nil, err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := mcsv1a1.Install(scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases")}, extraCRDDirs...),
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return &Env{Config: cfg, Scheme: scheme, Client: c, env: env}, nil
}

// Stop shuts the API server and etcd down.
func (e *Env) Stop() error { return e.env.Stop() }

// GatewayAPICRDs returns the directory of the standard Gateway API CRDs in
// the module cache, for tests that need HTTPRoute and GRPCRoute.
func GatewayAPICRDs() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(context.Background(), "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding the gateway-api module: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard"), nil
}

// MCSCRDs returns the directory of the MCS API's ServiceExport and
// ServiceImport CRDs in the module cache.
func MCSCRDs() (string, error) {
	dir, err := moduleDir("sigs.k8s.io/mcs-api")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config", "crd"), nil
}

func moduleDir(module string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(context.Background(), "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding the %s module: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// PrometheusOperatorCRDs returns the directory of the ServiceMonitor,
// PodMonitor and PrometheusRule CRDs (hack/monitoring-crds.sh).
func PrometheusOperatorCRDs() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "test", "crds", "prometheus-operator"), nil
}

// RepoRoot finds the Plexus module root above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s above the working directory: run the tests from inside the repository", module)
		}
		dir = parent
	}
}

func buildAssets(root string) (string, error) {
	cmd := exec.CommandContext(context.Background(), filepath.Join(root, "hack", "envtest-assets.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building envtest binaries with hack/envtest-assets.sh: %w (set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd to skip it)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// WriteKubeconfig writes a kubeconfig for the API server to path, for
// processes under test (an operator started as a binary).
func (e *Env) WriteKubeconfig(path string) error {
	c := clientcmdapi.NewConfig()
	c.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	c.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData, Token: e.Config.BearerToken}
	c.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	c.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*c, path)
}
