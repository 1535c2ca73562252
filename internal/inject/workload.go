package inject

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func intstrPort(p int) intstr.IntOrString { return intstr.FromInt32(int32(p)) }

// workloadName names the workload a pod belongs to, as metrics and the
// dashboard show it: the Deployment for a ReplicaSet's pod (the
// ReplicaSet's name without its pod-template-hash), otherwise the owning
// controller, otherwise the pod itself.
func workloadName(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if ref.Kind == "ReplicaSet" {
			if hash := pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" {
				return strings.TrimSuffix(ref.Name, "-"+hash)
			}
		}
		return ref.Name
	}
	if pod.Name != "" {
		return pod.Name
	}
	return strings.TrimSuffix(pod.GenerateName, "-")
}
