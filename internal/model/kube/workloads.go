package kube

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// Workloads converts running pods. Pods without an IP yet, or finished,
// are left out.
//
// A workload serves the ports its containers declare and the target ports
// of every Service whose endpoints include it: declaring containerPorts is
// optional in Kubernetes, so the Services are what say where the
// application listens.
func Workloads(pods []corev1.Pod, services []*model.Service) []*model.Workload {
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
			Egress:         egress(pod.Annotations, pod.Namespace),
		}
		if v, ok := pod.Annotations[AnnotationMTLSMode]; ok {
			// The injector refuses other values; one that slipped through
			// keeps the namespace's mode.
			w.MTLS, _ = model.ParseMTLSMode(v)
		}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
					continue
				}
				w.Ports = append(w.Ports, model.ServicePort{Name: p.Name, Port: uint32(p.ContainerPort), Protocol: model.ProtocolFor("", p.Name)})
			}
		}
		addServicePorts(w, services)
		out = append(out, w)
	}
	m := &model.Mesh{Workloads: out}
	m.Sort()
	return m.Workloads
}

// addServicePorts adds to w the target ports of the services it is an
// endpoint of, with the services' protocols, unless it declares them.
func addServicePorts(w *model.Workload, services []*model.Service) {
	have := map[uint32]bool{}
	for _, p := range w.Ports {
		have[p.Port] = true
	}
	for _, svc := range services {
		for _, ep := range svc.Endpoints {
			if ep.Address != w.Address {
				continue
			}
			for _, sp := range svc.Ports {
				target, ok := ep.Ports[sp.Name]
				if !ok || have[target] {
					continue
				}
				have[target] = true
				w.Ports = append(w.Ports, model.ServicePort{Name: sp.Name, Port: target, Protocol: sp.Protocol})
			}
		}
	}
	sort.Slice(w.Ports, func(i, j int) bool { return w.Ports[i].Port < w.Ports[j].Port })
}
