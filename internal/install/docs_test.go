package install_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Groups of kinds the docs show that the test API server does not serve:
// OLM's and kustomize's own.
var notServed = map[string]bool{"operators.coreos.com": true, "kustomize.config.k8s.io": true}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsExamplesAreValid applies every Kubernetes object shown in a yaml
// block of the docs (README.md and docs/) to a real API server with a
// server-side dry run, so the docs never show an object the API refuses.
// Blocks that are fragments (no apiVersion and kind) are skipped.
func TestDocsExamplesAreValid(t *testing.T) {
	root := repoRoot(t)
	files := []string{filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for _, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
			objs := examples(t, rel, m[1])
			if len(objs) == 0 {
				continue
			}
			if err := env.DryRunApply(context.Background(), objs); err != nil {
				t.Errorf("%s: an example the API server refuses:\n%v", rel, err)
			}
			applied += len(objs)
		}
	}
	if applied < 30 {
		t.Errorf("applied %d objects from the docs: the extraction is broken", applied)
	}
}

// examples parses a yaml block into the objects it shows, each in
// namespace default unless it names one.
func examples(t *testing.T, file, block string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(block, -1) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Errorf("%s: a yaml block does not parse: %v\n%s", file, err, doc)
			continue
		}
		if u.Object == nil || u.GetAPIVersion() == "" || u.GetKind() == "" || notServed[u.GroupVersionKind().Group] {
			continue
		}
		if u.GetNamespace() == "" {
			namespaced, err := env.Client.IsObjectNamespaced(u)
			if err != nil {
				t.Errorf("%s: %s %s: %v", file, u.GetKind(), u.GetName(), err)
				continue
			}
			if namespaced {
				u.SetNamespace("default")
			}
		}
		out = append(out, u)
	}
	return out
}
