package install_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	apimanifests "github.com/operator-framework/api/pkg/manifests"
	apivalidation "github.com/operator-framework/api/pkg/validation"
	apierrors "github.com/operator-framework/api/pkg/validation/errors"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
	"sigs.k8s.io/yaml"

	"github.com/plexus-mesh/plexus/internal/install"
	"github.com/plexus-mesh/plexus/internal/testenv"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func loadBundle(t *testing.T) *apimanifests.Bundle {
	t.Helper()
	b, err := apimanifests.GetBundleFromDir(filepath.Join(repoRoot(t), "bundle", "manifests"))
	if err != nil {
		t.Fatalf("loading bundle/manifests: %v", err)
	}
	if b.CSV == nil {
		t.Fatal("bundle/manifests has no ClusterServiceVersion")
	}
	return b
}

// TestBundleIsCurrent: bundle/ is what "make bundle" makes from config/
// now, so the tests below check what ships.
func TestBundleIsCurrent(t *testing.T) {
	root := repoRoot(t)
	files, err := install.Bundle(root, install.Release)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what \"make bundle\" makes (%v): run make bundle and commit", name, err)
		}
	}
	on, _ := filepath.Glob(filepath.Join(root, "bundle", "manifests", "*"))
	for _, f := range on {
		rel, _ := filepath.Rel(root, f)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s is not part of the bundle any more: run make bundle", rel)
		}
	}
}

// TestBundleValidates runs the checks of "operator-sdk bundle validate
// --select-optional suite=operatorframework" (operator-framework/api
// v0.34.0): the default bundle, CSV and CRD validators, then the
// operatorframework suite (OperatorHub v2, capabilities, categories,
// deprecated APIs, good practices), plus the object validator. Any error
// fails; warnings are listed.
func TestBundleValidates(t *testing.T) {
	b := loadBundle(t)

	// What operator-sdk's ValidateBundleContent runs.
	results := apivalidation.BundleValidator.Validate(b)
	results = append(results, apivalidation.ClusterServiceVersionValidator.Validate(b.CSV)...)
	var crds []any
	for _, crd := range b.V1CRDs {
		crds = append(crds, crd)
	}
	results = append(results, apivalidation.CustomResourceDefinitionValidator.Validate(crds...)...)

	// The optional suite, given every object and the optional values as
	// operator-sdk gives them.
	objs := b.ObjectsToValidate()
	for _, o := range b.Objects {
		objs = append(objs, o)
	}
	objs = append(objs, map[string]string{"k8s-version": "1.37"})
	suite := interfaces.Validators{
		apivalidation.OperatorHubV2Validator,
		apivalidation.StandardCapabilitiesValidator,
		apivalidation.StandardCategoriesValidator,
		apivalidation.AlphaDeprecatedAPIsValidator,
		apivalidation.GoodPracticesValidator,
		apivalidation.ObjectValidator,
	}
	results = append(results, suite.Validate(objs...)...)

	checked := 0
	for _, r := range results {
		checked++
		for _, e := range r.Errors {
			t.Errorf("%s: %s", r.Name, describe(e))
		}
		for _, w := range r.Warnings {
			t.Logf("warning: %s: %s", r.Name, describe(w))
		}
	}
	if checked < 8 {
		t.Fatalf("only %d validator results: the validators did not run", checked)
	}
}

func describe(e apierrors.Error) string {
	if e.Field != "" {
		return e.Field + ": " + e.Error()
	}
	return e.Error()
}

// supportedKinds are the kinds a registry+v1 bundle may hold
// (operator-registry's pkg/lib/bundle supportedObjects), which
// "operator-sdk bundle validate" checks the manifests against.
var supportedKinds = []string{
	"ClusterServiceVersion", "CustomResourceDefinition", "Secret", "ClusterRole", "ClusterRoleBinding",
	"ConfigMap", "ServiceAccount", "Service", "Role", "RoleBinding", "PrometheusRule", "ServiceMonitor",
	"PodDisruptionBudget", "PriorityClass", "VerticalPodAutoscaler", "ConsoleYAMLSample",
	"ConsoleQuickStart", "ConsoleCLIDownload", "ConsoleLink", "NetworkPolicy",
}

// TestBundleFormat checks the registry+v1 layout operator-sdk checks
// before the content: the annotations, the image's labels, one supported
// kind per manifest, and every CRD owned by the CSV.
func TestBundleFormat(t *testing.T) {
	root := repoRoot(t)
	var meta struct {
		Annotations map[string]string `json:"annotations"`
	}
	data, err := os.ReadFile(filepath.Join(root, "bundle", "metadata", "annotations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         "plexus",
		"operators.operatorframework.io.bundle.channel.default.v1": "alpha",
	} {
		if meta.Annotations[k] != want {
			t.Errorf("annotations.yaml %s = %q, want %q", k, meta.Annotations[k], want)
		}
	}
	if !slices.Contains(strings.Split(meta.Annotations["operators.operatorframework.io.bundle.channels.v1"], ","), meta.Annotations["operators.operatorframework.io.bundle.channel.default.v1"]) {
		t.Error("the default channel is not one of the bundle's channels")
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range meta.Annotations {
		if !strings.Contains(string(dockerfile), "LABEL "+k+"="+v+"\n") {
			t.Errorf("bundle.Dockerfile lacks the label %s=%s of annotations.yaml", k, v)
		}
	}

	b := loadBundle(t)
	for _, o := range b.Objects {
		if !slices.Contains(supportedKinds, o.GetKind()) {
			t.Errorf("%s %s: kind not supported in a registry+v1 bundle", o.GetKind(), o.GetName())
		}
	}
	var owned []string
	for _, d := range b.CSV.Spec.CustomResourceDefinitions.Owned {
		owned = append(owned, d.Name)
	}
	var inBundle []string
	for _, crd := range b.V1CRDs {
		inBundle = append(inBundle, crd.Name)
	}
	sort.Strings(owned)
	sort.Strings(inBundle)
	if !slices.Equal(owned, inBundle) || len(owned) != 4 {
		t.Errorf("the CSV owns %v; the bundle holds the CRDs %v", owned, inBundle)
	}
}
