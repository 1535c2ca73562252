package kube

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// Workloads converts running pods. Pods without an IP yet, or finished,
// are left out.
func Workloads(pods []corev1.Pod) []*model.Workload {
	var out []*model.Workload
	for i := range pods {
		pod := &pods[i]
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		addr, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil {
			continue
		}
		w := &model.Workload{
			Key:            model.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
			Name:           WorkloadName(pod),
			ServiceAccount: serviceAccount(pod),
			Address:        addr,
			Labels:         pod.Labels,
		}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
					continue
				}
				w.Ports = append(w.Ports, model.ServicePort{Name: p.Name, Port: uint32(p.ContainerPort), Protocol: model.ProtocolFor("", p.Name)})
			}
		}
		out = append(out, w)
	}
	m := &model.Mesh{Workloads: out}
	m.Sort()
	return m.Workloads
}
