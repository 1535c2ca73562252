package kube

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/plexus-mesh/plexus/internal/model"
)

var east = Cluster{Name: "east", TrustDomain: "east.example"}

func pod(name, ip, sa, rs, hash string) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": "reviews", "pod-template-hash": hash}},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9080}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}}},
		Status:     corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning},
	}
	if rs != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, Controller: ptr.To(true)}}
	}
	return p
}

func TestServices(t *testing.T) {
	svcs := []corev1.Service{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"},
			Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.96.0.10"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 9080},
				{Name: "grpc-api", Port: 9090, AppProtocol: ptr.To("kubernetes.io/h2c")},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			}},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "external"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "udp-only"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}}},
	}
	slice := func(name string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](9080)}, {Name: ptr.To("grpc-api"), Port: ptr.To[int32](9091)}},
			Endpoints:   eps,
		}
	}
	podRef := func(n string) *corev1.ObjectReference { return &corev1.ObjectReference{Kind: "Pod", Name: n} }
	slices := []discoveryv1.EndpointSlice{
		slice("reviews-a",
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Zone: ptr.To("zone-a"), TargetRef: podRef("reviews-v1-7d9f-abc")},
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}, TargetRef: podRef("reviews-v2-5c4b-def")},
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Terminating: ptr.To(true)}},
		),
		// The same address in a second slice, ready there: healthy.
		slice("reviews-b", discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, TargetRef: podRef("reviews-v2-5c4b-def")}),
	}
	pods := []corev1.Pod{pod("reviews-v1-7d9f-abc", "10.0.0.2", "reviews", "reviews-v1-7d9f", "7d9f"), pod("reviews-v2-5c4b-def", "10.0.0.3", "", "reviews-v2-5c4b", "5c4b")}

	got := Services(east, svcs, slices, pods)
	if len(got) != 1 {
		t.Fatalf("got %d services, want only reviews (ExternalName and UDP-only left out)", len(got))
	}
	s := got[0]
	wantPorts := []model.ServicePort{{Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}, {Name: "grpc-api", Port: 9090, Protocol: model.ProtocolHTTP2}}
	if !reflect.DeepEqual(s.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", s.Ports, wantPorts)
	}
	if s.Hostnames[0] != "reviews.shop.svc.cluster.local" || len(s.VIPs) != 1 || s.VIPs[0] != netip.MustParseAddr("10.96.0.10") {
		t.Errorf("hostnames %v, VIPs %v", s.Hostnames, s.VIPs)
	}
	wantEps := []model.Endpoint{
		{Address: netip.MustParseAddr("10.0.0.2"), Ports: map[string]uint32{"http": 9080, "grpc-api": 9091}, Healthy: true,
			Locality: model.Locality{Cluster: "east", Zone: "zone-a"}, Identity: "spiffe://east.example/ns/shop/sa/reviews",
			Workload: model.NamespacedName{Namespace: "shop", Name: "reviews-v1"}},
		{Address: netip.MustParseAddr("10.0.0.3"), Ports: map[string]uint32{"http": 9080, "grpc-api": 9091}, Healthy: true,
			Locality: model.Locality{Cluster: "east"}, Identity: "spiffe://east.example/ns/shop/sa/default",
			Workload: model.NamespacedName{Namespace: "shop", Name: "reviews-v2"}},
		{Address: netip.MustParseAddr("10.0.0.4"), Ports: map[string]uint32{"http": 9080, "grpc-api": 9091}, Healthy: false,
			Locality: model.Locality{Cluster: "east"}},
	}
	if !reflect.DeepEqual(s.Endpoints, wantEps) {
		t.Errorf("endpoints\n got %+v\nwant %+v", s.Endpoints, wantEps)
	}
	if err := (&model.Mesh{Settings: model.Settings{ClusterName: "east", TrustDomain: "east.example", MTLS: model.MTLSStrict,
		Traffic: model.Traffic{LoadBalancer: model.RoundRobin, ConnectTimeout: 1}}, Services: got}).Validate(); err != nil {
		t.Errorf("converted services do not validate: %v", err)
	}
}

func TestWorkloads(t *testing.T) {
	done := pod("job-x", "10.0.0.9", "", "", "")
	done.Status.Phase = corev1.PodSucceeded
	pending := pod("pending", "", "", "", "")
	// The pod declares 9080; a Service sends its ports to 8080 and 9090,
	// which the pod does not declare: it serves all three.
	services := []*model.Service{{
		Ports:     []model.ServicePort{{Name: "grpc", Port: 90, Protocol: model.ProtocolGRPC}, {Name: "web", Port: 80, Protocol: model.ProtocolHTTP}},
		Endpoints: []model.Endpoint{{Address: netip.MustParseAddr("10.0.0.2"), Ports: map[string]uint32{"grpc": 9090, "web": 8080}}},
	}}
	got := Workloads([]corev1.Pod{pod("reviews-v1-7d9f-abc", "10.0.0.2", "reviews", "reviews-v1-7d9f", "7d9f"), done, pending}, services)
	if len(got) != 1 {
		t.Fatalf("got %d workloads, want 1 (finished and IP-less pods left out)", len(got))
	}
	w := got[0]
	if w.Name != "reviews-v1" || w.ServiceAccount != "reviews" || w.Address.String() != "10.0.0.2" {
		t.Fatalf("workload %+v", w)
	}
	want := []model.ServicePort{{Name: "web", Port: 8080, Protocol: model.ProtocolHTTP}, {Name: "http", Port: 9080, Protocol: model.ProtocolHTTP}, {Name: "grpc", Port: 9090, Protocol: model.ProtocolGRPC}}
	if !reflect.DeepEqual(w.Ports, want) {
		t.Fatalf("workload ports %+v, want the declared 9080 and the Service's 8080 and 9090, sorted", w.Ports)
	}
}

func TestWorkloadName(t *testing.T) {
	sts := pod("db-0", "", "", "", "")
	sts.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: ptr.To(true)}}
	tests := map[string]struct {
		pod  corev1.Pod
		want string
	}{
		"deployment":  {pod("web-6b7c-xyz", "", "", "web-6b7c", "6b7c"), "web"},
		"statefulset": {sts, "db"},
		"bare pod":    {pod("debug", "", "", "", ""), "debug"},
		"at admission, with only a generated name": {corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "job-"}}, "job"},
	}
	for name, tc := range tests {
		if got := WorkloadName(&tc.pod); got != tc.want {
			t.Errorf("%s: WorkloadName = %q, want %q", name, got, tc.want)
		}
	}
}
