package kube

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
)

// AuthorizationPolicy converts an AuthorizationPolicy. The schema has
// already checked its shape; what is left is the selector.
func AuthorizationPolicy(p *meshv1.AuthorizationPolicy) (*model.AuthorizationPolicy, error) {
	out := &model.AuthorizationPolicy{
		Key:    model.NamespacedName{Namespace: p.Namespace, Name: p.Name},
		Action: model.AuthorizationAction(p.Spec.Action),
	}
	if out.Action == "" {
		out.Action = model.Allow
	}
	for _, ref := range p.Spec.TargetRefs {
		out.Targets = append(out.Targets, model.NamespacedName{Namespace: p.Namespace, Name: string(ref.Name)})
	}
	if p.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("AuthorizationPolicy %s/%s: selector: %w", p.Namespace, p.Name, err)
		}
		out.Selector = sel.String()
	}
	for _, r := range p.Spec.Rules {
		var rule model.AuthorizationRule
		for _, f := range r.From {
			src := model.AuthorizationSource{Namespaces: f.Namespaces}
			for _, id := range f.SPIFFEIDs {
				src.SPIFFEIDs = append(src.SPIFFEIDs, string(id))
			}
			for _, td := range f.TrustDomains {
				src.TrustDomains = append(src.TrustDomains, string(td))
			}
			rule.From = append(rule.From, src)
		}
		for _, t := range r.To {
			var dst model.AuthorizationDestination
			for _, port := range t.Ports {
				dst.Ports = append(dst.Ports, uint32(port))
			}
			for _, m := range t.Methods {
				dst.Methods = append(dst.Methods, string(m))
			}
			for _, path := range t.Paths {
				dst.Paths = append(dst.Paths, string(path))
			}
			rule.To = append(rule.To, dst)
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}
