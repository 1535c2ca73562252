package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/model/kube"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Load builds the mesh from the YAML files in dir and the proxies that are
// connected. The files hold the same kinds as in Kubernetes: one Mesh,
// Services (their selectors pick proxies by the labels in their node
// metadata), TrafficPolicies, HTTPRoutes and GRPCRoutes. The connected
// proxies are the endpoints, as pods would be.
func Load(dir string, proxies map[string]nodemeta.Metadata) (*model.Mesh, error) {
	l, err := LoadAll(dir, Inputs{Proxies: proxies})
	if err != nil {
		return nil, err
	}
	return l.Mesh, nil
}

// Inputs are what a local mesh is built from besides its files.
type Inputs struct {
	// Proxies are the connected proxies' metadata by node ID.
	Proxies map[string]nodemeta.Metadata
	// Imports are the services peers export, from federation.
	Imports []*model.Import
	// FederationAddress is where the east-west gateway forwards peers to
	// the federation API; "" for nowhere.
	FederationAddress string
}

// Loaded is a local mesh and the peers its files declare, with the
// Secrets that hold their trust bundles.
type Loaded struct {
	Mesh    *model.Mesh
	Peers   []*meshv1.MeshPeer
	Secrets map[model.NamespacedName]*corev1.Secret
}

// SecretValue is a key of a Secret in the files, from data or stringData.
func (l *Loaded) SecretValue(namespace, name, key string) ([]byte, error) {
	s := l.Secrets[model.NamespacedName{Namespace: namespace, Name: name}]
	if s == nil {
		return nil, fmt.Errorf("no Secret %s/%s in the configuration", namespace, name)
	}
	if v, ok := s.Data[key]; ok {
		return v, nil
	}
	if v, ok := s.StringData[key]; ok {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("the Secret %s/%s has no key %q", namespace, name, key)
}

// LoadAll is Load with the peers' imports folded in, and the MeshPeers
// and ServiceExports of the files: an exported Service is reachable from
// peers through the east-west gateway.
func LoadAll(dir string, in Inputs) (*Loaded, error) {
	objs, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	var (
		mesh    *meshv1.Mesh
		svcs    []corev1.Service
		routes  []*model.Route
		tps     []*model.TrafficPolicy
		aps     []*model.AuthorizationPolicy
		peers   []*meshv1.MeshPeer
		exports = map[model.NamespacedName]bool{}
		secrets = map[model.NamespacedName]*corev1.Secret{}
		errs    []error
	)
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *meshv1.Mesh:
			if mesh != nil {
				errs = append(errs, fmt.Errorf("%s: a second Mesh (%s); local mode runs one mesh: keep one", o.file, v.Name))
				continue
			}
			mesh = v
		case *corev1.Service:
			if v.Namespace == "" {
				v.Namespace = "default"
			}
			svcs = append(svcs, *v)
		case *meshv1.TrafficPolicy:
			defaultNamespace(v)
			p, err := kube.TrafficPolicy(v)
			errs = append(errs, prefix(o.file, err))
			tps = append(tps, p)
		case *meshv1.AuthorizationPolicy:
			defaultNamespace(v)
			p, err := kube.AuthorizationPolicy(v)
			errs = append(errs, prefix(o.file, err))
			if p != nil {
				aps = append(aps, p)
			}
		case *gwapiv1.HTTPRoute:
			defaultNamespace(v)
			r, err := kube.HTTPRoute(v)
			errs = append(errs, prefix(o.file, err))
			if r != nil {
				routes = append(routes, r)
			}
		case *gwapiv1.GRPCRoute:
			defaultNamespace(v)
			r, err := kube.GRPCRoute(v)
			errs = append(errs, prefix(o.file, err))
			if r != nil {
				routes = append(routes, r)
			}
		case *mcsv1a1.ServiceExport:
			defaultNamespace(v)
			exports[model.NamespacedName{Namespace: v.Namespace, Name: v.Name}] = true
		case *meshv1.MeshPeer:
			peers = append(peers, v)
		case *corev1.Secret:
			defaultNamespace(v)
			secrets[model.NamespacedName{Namespace: v.Namespace, Name: v.Name}] = v
		default:
			errs = append(errs, fmt.Errorf("%s: %T is not used in local mode: use Mesh, Service, ServiceExport, MeshPeer (with its bundle's Secret), TrafficPolicy, AuthorizationPolicy, HTTPRoute or GRPCRoute", o.file, o.obj))
		}
	}
	if mesh == nil {
		errs = append(errs, fmt.Errorf("no Mesh in %s: add a file with kind: Mesh (clusterName and trustDomain)", dir))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	settings, err := kube.Settings(mesh)
	if err != nil {
		return nil, err
	}
	settings.FederationAddress = in.FederationAddress
	pods, slices := fromProxies(svcs, in.Proxies)
	cluster := kube.Cluster{Name: settings.ClusterName, TrustDomain: settings.TrustDomain}
	services := kube.Services(cluster, svcs, slices, pods)
	for key := range exports {
		found := false
		for _, svc := range services {
			if svc.Key == key {
				svc.Exported, found = true, true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("ServiceExport %s: no Service %s in the configuration: add it, or remove the export", key, key))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := &model.Mesh{
		Settings: settings, Services: services, Workloads: kube.Workloads(pods, services),
		Routes: routes, TrafficPolicies: tps, AuthorizationPolicies: aps, Imports: in.Imports,
	}
	m.ApplyImports()
	m.Sort()
	return &Loaded{Mesh: m, Peers: peers, Secrets: secrets}, m.Validate()
}

type fileObject struct {
	file string
	obj  runtime.Object
}

// readDir decodes every .yaml/.yml file in dir, in name order.
func readDir(dir string) ([]fileObject, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, meshv1.AddToScheme, gwapiv1.Install, mcsv1a1.Install} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the mesh configuration: %w", err)
	}
	var out []fileObject
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for i, doc := range bytes.Split(data, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", path, i+1, err)
			}
			out = append(out, fileObject{file: path, obj: obj})
		}
	}
	return out, nil
}

func isComment(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// fromProxies turns connected proxies into the Pods and EndpointSlices
// Kubernetes would have: a proxy is an endpoint of every Service in its
// namespace whose selector its labels match.
func fromProxies(svcs []corev1.Service, proxies map[string]nodemeta.Metadata) ([]corev1.Pod, []discoveryv1.EndpointSlice) {
	ids := make([]string, 0, len(proxies))
	for id := range proxies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var pods []corev1.Pod
	for _, id := range ids {
		meta := proxies[id]
		if meta.Role == nodemeta.RoleGateway {
			continue // a gateway serves no workload of its own
		}
		pod := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: meta.Namespace, Name: id, Labels: meta.Labels},
			Spec:       corev1.PodSpec{ServiceAccountName: meta.ServiceAccount},
			Status:     corev1.PodStatus{PodIP: meta.IP, Phase: corev1.PodRunning},
		}
		pod.Annotations = map[string]string{}
		if meta.Egress != "" {
			pod.Annotations[kube.AnnotationEgress] = meta.Egress
		}
		if meta.MTLSMode != "" {
			pod.Annotations[kube.AnnotationMTLSMode] = meta.MTLSMode
		}
		// The workload name stands where a Deployment would.
		pod.OwnerReferences = []metav1.OwnerReference{{Kind: "Workload", Name: meta.Workload, Controller: ptr(true)}}
		var ports []corev1.ContainerPort
		for _, p := range meta.Ports {
			ports = append(ports, corev1.ContainerPort{Name: p.Protocol, ContainerPort: int32(p.Port)})
		}
		pod.Spec.Containers = []corev1.Container{{Name: "app", Ports: ports}}
		pods = append(pods, pod)
	}
	var slices []discoveryv1.EndpointSlice
	for _, svc := range svcs {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		selector := labels.SelectorFromSet(svc.Spec.Selector)
		slice := discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for _, p := range svc.Spec.Ports {
			target := p.Port
			if p.TargetPort.IntValue() > 0 {
				target = int32(p.TargetPort.IntValue())
			}
			slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr(p.Name), Port: ptr(target)})
		}
		for _, pod := range pods {
			if pod.Namespace == svc.Namespace && selector.Matches(labels.Set(pod.Labels)) && pod.Status.PodIP != "" {
				slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
					Addresses: []string{pod.Status.PodIP},
					TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name},
				})
			}
		}
		slices = append(slices, slice)
	}
	return pods, slices
}

func defaultNamespace(o metav1.Object) {
	if o.GetNamespace() == "" {
		o.SetNamespace("default")
	}
}

func prefix(file string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", file, err)
}

func ptr[T any](v T) *T { return &v }
