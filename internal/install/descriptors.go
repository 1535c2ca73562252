package install

import (
	"slices"
	"strings"
	"unicode"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Descriptors the OLM console knows how to show.
const (
	xConditions = "urn:alm:descriptor:io.kubernetes.conditions"
	xText       = "urn:alm:descriptor:text"
	xNumber     = "urn:alm:descriptor:com.tectonic.ui:number"
	xBoolean    = "urn:alm:descriptor:com.tectonic.ui:booleanSwitch"
	xAdvanced   = "urn:alm:descriptor:com.tectonic.ui:advanced"
)

// crdDescription describes an owned CRD for the CSV, from its schema:
// the kind's description and one descriptor per top-level spec and status
// field, each with the field's own doc comment.
func crdDescription(crd *apiextensionsv1.CustomResourceDefinition) operatorsv1alpha1.CRDDescription {
	v := servedVersion(crd)
	schema := v.Schema.OpenAPIV3Schema
	d := operatorsv1alpha1.CRDDescription{
		Name: crd.Name, Version: v.Name, Kind: crd.Spec.Names.Kind,
		DisplayName: displayName(crd.Spec.Names.Kind),
		Description: firstSentence(schema.Description),
	}
	spec, status := schema.Properties["spec"], schema.Properties["status"]
	required := spec.Required
	for _, name := range sortedKeys(spec.Properties) {
		p := spec.Properties[name]
		sd := operatorsv1alpha1.SpecDescriptor{Path: name, DisplayName: displayName(name), Description: firstSentence(p.Description)}
		if x := xDescriptor(p); x != "" {
			sd.XDescriptors = append(sd.XDescriptors, x)
		}
		if !slices.Contains(required, name) && p.Type == "object" {
			// Optional sections with defaults: shown folded away.
			sd.XDescriptors = append(sd.XDescriptors, xAdvanced)
		}
		d.SpecDescriptors = append(d.SpecDescriptors, sd)
	}
	for _, name := range sortedKeys(status.Properties) {
		p := status.Properties[name]
		sd := operatorsv1alpha1.StatusDescriptor{Path: name, DisplayName: displayName(name), Description: firstSentence(p.Description)}
		if name == "conditions" {
			sd.XDescriptors = []string{xConditions}
		} else if x := xDescriptor(p); x != "" {
			sd.XDescriptors = []string{x}
		}
		d.StatusDescriptors = append(d.StatusDescriptors, sd)
	}
	return d
}

func servedVersion(crd *apiextensionsv1.CustomResourceDefinition) apiextensionsv1.CustomResourceDefinitionVersion {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v
		}
	}
	return crd.Spec.Versions[0]
}

func xDescriptor(p apiextensionsv1.JSONSchemaProps) string {
	switch p.Type {
	case "string":
		return xText
	case "integer", "number":
		return xNumber
	case "boolean":
		return xBoolean
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// firstSentence is the first sentence of a doc comment, on one line.
func firstSentence(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	if i := strings.Index(doc, ". "); i >= 0 {
		return doc[:i+1]
	}
	return doc
}

// displayName turns a Go or JSON name into words: "trustDomain" is
// "Trust Domain", "MeshPeer" is "Mesh Peer", "mtls" is "mTLS".
func displayName(name string) string {
	if special, ok := displayNames[name]; ok {
		return special
	}
	var words []string
	start := 0
	runes := []rune(name)
	for i := 1; i < len(runes); i++ {
		if unicode.IsUpper(runes[i]) && (unicode.IsLower(runes[i-1]) || (i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
			words = append(words, string(runes[start:i]))
			start = i
		}
	}
	words = append(words, string(runes[start:]))
	for i, w := range words {
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

var displayNames = map[string]string{
	"mtls":               "mTLS",
	"operatorSPIFFEID":   "Operator SPIFFE ID",
	"federationEndpoint": "Federation Endpoint",
}
