package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/install"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

// installedConfig parses the operator arguments of an install manifest
// with the operator's own flags.
func installedConfig(t *testing.T, args []string) config {
	t.Helper()
	cfg := defaultConfig()
	fs := pflag.NewFlagSet("plexus-operator", pflag.ContinueOnError)
	cfg.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("the operator refuses the manifest's arguments %v: %v", args, err)
	}
	return cfg
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInstallManifestsMatchTheOperator: the kustomize Deployment and the
// OLM bundle's start the operator with flags it has, listening where the
// Services send traffic, and with the webhook set up the way each install
// provides for.
func TestInstallManifestsMatchTheOperator(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := install.Kustomize(filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &dep); err != nil {
				t.Fatal(err)
			}
		case "Service":
			svc := &corev1.Service{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, svc); err != nil {
				t.Fatal(err)
			}
			services[svc.Name] = svc
		}
	}
	kustomize := installedConfig(t, dep.Spec.Template.Spec.Containers[0].Args)
	if kustomize.Injector.CertDir != "" {
		t.Error("the kustomize install passes --webhook-cert-dir; there the operator makes its own certificate")
	}
	if _, ok := services[kustomize.Injector.Service]; !ok {
		t.Errorf("--webhook-service=%s, but config/default has no such Service", kustomize.Injector.Service)
	}
	if !kustomize.MetricsSecure || !kustomize.LeaderElect {
		t.Error("the kustomize install does not serve metrics securely or elect a leader")
	}
	ports := map[string]string{}
	for _, p := range services["plexus-operator"].Spec.Ports {
		ports[p.Name] = p.TargetPort.String()
	}
	containerPorts := map[string]string{}
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		containerPorts[p.Name] = strconv.Itoa(int(p.ContainerPort))
	}
	for svcPort, addr := range map[string]string{"grpc-xds": kustomize.XDSAddr, "tls-ca": kustomize.CAAddr, "tls-federation": kustomize.FederationAddr, "https-bundle": kustomize.BundleAddr, "metrics": kustomize.MetricsAddr} {
		if got := containerPorts[ports[svcPort]]; got != port(t, addr) {
			t.Errorf("Service port %s reaches container port %s; the operator listens on %s", svcPort, got, addr)
		}
	}
	if containerPorts["webhook"] != strconv.Itoa(kustomize.Injector.Port) {
		t.Errorf("webhook container port %s, operator --webhook-port %d", containerPorts["webhook"], kustomize.Injector.Port)
	}

	data, err := os.ReadFile(filepath.Join(root, "bundle", "manifests", "plexus-operator.clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var csv operatorsv1alpha1.ClusterServiceVersion
	if err := yaml.Unmarshal(data, &csv); err != nil {
		t.Fatal(err)
	}
	olmDep := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0]
	olm := installedConfig(t, olmDep.Spec.Template.Spec.Containers[0].Args)
	if olm.Injector.CertDir != "/tmp/k8s-webhook-server/serving-certs" {
		t.Errorf("the bundle's --webhook-cert-dir is %q, want where OLM mounts the certificate", olm.Injector.CertDir)
	}
	hook := csv.Spec.WebhookDefinitions[0]
	if hook.TargetPort.IntValue() != olm.Injector.Port || *hook.WebhookPath != "/inject-pod" || hook.DeploymentName != olmDep.Name {
		t.Errorf("webhook definition %+v does not reach the operator's webhook on port %d", hook, olm.Injector.Port)
	}
	_, proxyImage := install.Images(csv.Spec.Version.String())
	if olm.Injector.ProxyImage != proxyImage {
		t.Errorf("the bundle injects %s, want the release's %s", olm.Injector.ProxyImage, proxyImage)
	}
}
