package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
