package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestAPIReferenceCoversEveryField: each field of each CRD, at every
// depth, has a row in the reference, with its doc comment.
func TestAPIReferenceCoversEveryField(t *testing.T) {
	dir := filepath.Join("..", "..", "config", "crd", "bases")
	page, err := apiReference(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) != len(crdFiles) {
		t.Fatalf("config/crd/bases has %d CRDs, the reference lists %d (%v)", len(files), len(crdFiles), err)
	}
	rows := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatal(err)
		}
		start := strings.Index(page, "\n## "+crd.Spec.Names.Kind+"\n")
		if start < 0 {
			t.Errorf("no section for %s", crd.Spec.Names.Kind)
			continue
		}
		section := page[start+1:]
		if end := strings.Index(section, "\n## "); end >= 0 {
			section = section[:end]
		}
		schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		for _, part := range []string{"spec", "status"} {
			walk(part, schema.Properties[part], func(path string, p apiextensionsv1.JSONSchemaProps) {
				rows++
				row := "| `" + path + "` |"
				i := strings.Index(section, row)
				if i < 0 {
					t.Errorf("%s: no row for %s", crd.Spec.Names.Kind, path)
					return
				}
				line := section[i : i+strings.Index(section[i:], "\n")]
				if want := firstWords(p.Description); !strings.Contains(line, want) {
					t.Errorf("row of %s lacks its description %q: %s", path, want, line)
				}
			})
		}
	}
	if rows < 100 {
		t.Errorf("only %d fields found: the walk is broken", rows)
	}
}

func walk(path string, p apiextensionsv1.JSONSchemaProps, visit func(string, apiextensionsv1.JSONSchemaProps)) {
	if p.Type == "array" && p.Items != nil && p.Items.Schema != nil {
		p, path = *p.Items.Schema, path+"[]"
	}
	for name, child := range p.Properties {
		visit(path+"."+name, child)
		walk(path+"."+name, child, visit)
	}
}

func firstWords(s string) string {
	words := strings.Fields(s)
	if len(words) > 4 {
		words = words[:4]
	}
	return strings.ReplaceAll(strings.Join(words, " "), "|", `\|`)
}
