package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/inject"
)

// DefaultProxyResources are the proxy's resources when the Mesh sets none.
func DefaultProxyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

// InjectionConfig returns the injection settings of the Mesh in effect,
// read through c. defaultImage and the addresses are the operator's own.
func InjectionConfig(c client.Reader, defaultImage, xdsAddress, caAddress string) inject.ConfigSource {
	return func(ctx context.Context) (inject.Config, bool, error) {
		var meshes meshv1.MeshList
		if err := c.List(ctx, &meshes); err != nil {
			return inject.Config{}, false, err
		}
		mesh := effectiveMesh(meshes.Items)
		if mesh == nil {
			return inject.Config{}, false, nil
		}
		cfg := inject.Config{ProxyImage: defaultImage, XDSAddress: xdsAddress, CAAddress: caAddress, ClusterName: string(mesh.Spec.ClusterName), Resources: DefaultProxyResources()}
		if id := mesh.Spec.Identity; id != nil && id.SPIRE != nil {
			cfg.WorkloadAPISocket = id.SPIRE.WorkloadAPISocket
		}
		if inj := mesh.Spec.Injection; inj != nil {
			if inj.ProxyImage != "" {
				cfg.ProxyImage = inj.ProxyImage
			}
			if inj.Resources != nil {
				cfg.Resources = *inj.Resources.DeepCopy()
			}
		}
		return cfg, true, nil
	}
}

// InjectionSelector selects the namespaces whose pods the Mesh injects: its
// injection.namespaceSelector (default: label mesh.plexus.dev/inject:
// enabled), narrowed to leave out the excluded namespaces whatever their
// labels say.
func InjectionSelector(mesh *meshv1.Mesh, exclude []string) *metav1.LabelSelector {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{inject.AnnotationInject: "enabled"}}
	if inj := mesh.Spec.Injection; inj != nil && inj.NamespaceSelector != nil {
		sel = inj.NamespaceSelector.DeepCopy()
	}
	if len(exclude) > 0 {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Clone(exclude),
		})
	}
	return sel
}

// InjectedNamespaces checks, in the webhook itself, that the Mesh in effect
// injects a pod's namespace. The operator's own webhook configuration
// selects those namespaces already; one made by someone else (OLM, from the
// bundle's webhook definition, which cannot carry a namespace selector)
// sends every pod of the cluster. c should be a cached client, as the check
// runs on every admitted pod; live reads a namespace the cache has not seen
// yet (one created just before its pods).
func InjectedNamespaces(c, live client.Reader, exclude []string) inject.NamespaceFilter {
	return func(ctx context.Context, namespace string) (string, error) {
		var meshes meshv1.MeshList
		if err := c.List(ctx, &meshes); err != nil {
			return "", err
		}
		mesh := effectiveMesh(meshes.Items)
		if mesh == nil {
			return "there is no Mesh", nil
		}
		sel, err := metav1.LabelSelectorAsSelector(InjectionSelector(mesh, exclude))
		if err != nil {
			// The Mesh's status reports it too (InvalidSpec).
			return "", fmt.Errorf("the Mesh's injection.namespaceSelector is invalid: %w", err)
		}
		ns := &corev1.Namespace{}
		err = c.Get(ctx, client.ObjectKey{Name: namespace}, ns)
		if apierrors.IsNotFound(err) {
			err = live.Get(ctx, client.ObjectKey{Name: namespace}, ns)
		}
		if err != nil {
			return "", fmt.Errorf("reading namespace %s: %w", namespace, err)
		}
		if !sel.Matches(labels.Set(ns.Labels)) {
			return fmt.Sprintf("the Mesh's injection.namespaceSelector does not select namespace %s", namespace), nil
		}
		return "", nil
	}
}
