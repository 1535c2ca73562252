package kube

import (
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// Cluster describes the cluster the objects come from.
type Cluster struct {
	Name        string
	TrustDomain string
	// Domain is the cluster DNS domain. Default: cluster.local.
	Domain string
}

// Services converts Services, their EndpointSlices and the Pods behind
// them. ExternalName services and non-TCP ports are left out: the mesh
// carries TCP. Endpoints backed by a Pod carry its SPIFFE identity.
func Services(c Cluster, svcs []corev1.Service, slices []discoveryv1.EndpointSlice, pods []corev1.Pod) []*model.Service {
	if c.Domain == "" {
		c.Domain = "cluster.local"
	}
	podsByName := map[model.NamespacedName]*corev1.Pod{}
	for i := range pods {
		podsByName[model.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}] = &pods[i]
	}
	slicesBySvc := map[model.NamespacedName][]*discoveryv1.EndpointSlice{}
	for i := range slices {
		s := &slices[i]
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			key := model.NamespacedName{Namespace: s.Namespace, Name: name}
			slicesBySvc[key] = append(slicesBySvc[key], s)
		}
	}
	var out []*model.Service
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		key := model.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		ms := &model.Service{
			Key: key,
			Hostnames: []string{
				svc.Name + "." + svc.Namespace + ".svc." + c.Domain,
				svc.Name + "." + svc.Namespace + ".svc",
				svc.Name + "." + svc.Namespace,
				svc.Name,
			},
			Labels:   svc.Labels,
			ExportTo: exportTo(svc.Annotations, svc.Namespace),
		}
		for _, ip := range svc.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				ms.VIPs = append(ms.VIPs, a)
			}
		}
		for _, p := range svc.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			ms.Ports = append(ms.Ports, model.ServicePort{
				Name: p.Name, Port: uint32(p.Port), Protocol: model.ProtocolFor(deref(p.AppProtocol), p.Name),
			})
		}
		if len(ms.Ports) == 0 {
			continue
		}
		ms.Endpoints = endpoints(c, ms, slicesBySvc[key], podsByName)
		out = append(out, ms)
	}
	m := &model.Mesh{Services: out}
	m.Sort()
	return m.Services
}

// endpoints merges a service's slices into one endpoint per address. An
// address in several slices (during a slice split) is listed once, healthy
// if any slice says it is ready.
func endpoints(c Cluster, svc *model.Service, slices []*discoveryv1.EndpointSlice, pods map[model.NamespacedName]*corev1.Pod) []model.Endpoint {
	known := map[string]bool{}
	for _, p := range svc.Ports {
		known[p.Name] = true
	}
	byAddr := map[netip.Addr]*model.Endpoint{}
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		ports := map[string]uint32{}
		for _, p := range s.Ports {
			name := deref(p.Name)
			if p.Port != nil && known[name] && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				ports[name] = uint32(*p.Port)
			}
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				continue
			}
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				ready = false
			}
			if ep := byAddr[addr]; ep != nil {
				ep.Healthy = ep.Healthy || ready
				for k, v := range ports {
					ep.Ports[k] = v
				}
				continue
			}
			ep := &model.Endpoint{Address: addr, Ports: clonePorts(ports), Healthy: ready, Locality: model.Locality{Cluster: c.Name, Zone: deref(e.Zone)}}
			if ref := e.TargetRef; ref != nil && ref.Kind == "Pod" {
				ns := ref.Namespace
				if ns == "" {
					ns = s.Namespace
				}
				if pod := pods[model.NamespacedName{Namespace: ns, Name: ref.Name}]; pod != nil {
					ep.Workload = model.NamespacedName{Namespace: ns, Name: WorkloadName(pod)}
					ep.Identity = SPIFFEID(c.TrustDomain, ns, serviceAccount(pod))
				}
			}
			byAddr[addr] = ep
		}
	}
	out := make([]model.Endpoint, 0, len(byAddr))
	for _, ep := range byAddr {
		out = append(out, *ep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address.Less(out[j].Address) })
	return out
}

// SPIFFEID is the identity of a service account.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

func serviceAccount(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "default"
	}
	return pod.Spec.ServiceAccountName
}

// WorkloadName names the workload a pod belongs to: its Deployment (the
// ReplicaSet's name without the pod-template hash), StatefulSet, DaemonSet
// or Job, else the pod itself. Metrics use it, so it must not vary per pod.
func WorkloadName(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if ref.Kind == "ReplicaSet" {
			if hash := pod.Labels["pod-template-hash"]; hash != "" {
				return strings.TrimSuffix(ref.Name, "-"+hash)
			}
		}
		return ref.Name
	}
	if pod.Name == "" {
		// At admission a pod may have only a generated-name prefix.
		return strings.TrimSuffix(pod.GenerateName, "-")
	}
	return pod.Name
}

func clonePorts(m map[string]uint32) map[string]uint32 {
	out := make(map[string]uint32, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
