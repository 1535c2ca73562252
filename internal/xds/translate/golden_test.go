package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/model/kube"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

var update = flag.Bool("update", false, "rewrite the golden .out.yaml files")

// proxyAnnotation marks, in a test input, the pod whose proxy is translated.
const proxyAnnotation = "test.plexus.dev/proxy"

// appAddressAnnotation and upstreamsAnnotation, on the proxy's pod, run it
// without interception (nodemeta.InterceptionNone): the application
// listens at the address, and calls the upstreams
// (NAMESPACE/SERVICE:PORT=[IP:]LOCALPORT,...) at local addresses.
const (
	appAddressAnnotation = "test.plexus.dev/app-address"
	upstreamsAnnotation  = "test.plexus.dev/upstreams"
)

// TestGolden translates testdata/<case>.in.yaml (Kubernetes objects) for
// the pod annotated test.plexus.dev/proxy and compares the xDS resources
// with testdata/<case>.out.yaml. Run with -update to rewrite the outputs,
// then review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden cases in testdata/")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := translateFile(t, in)
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/xds/translate -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from the translation (-want +got); if the change is intended, run with -update:\n%s", out, diff)
			}
		})
	}
}

func translateFile(t *testing.T, path string) []byte {
	t.Helper()
	return render(t, translateResources(t, path))
}

// translateResources reads a case and translates it.
func translateResources(t *testing.T, path string) *Resources {
	t.Helper()
	m, p := loadModel(t, path)
	return Translate(m, p)
}

// loadModel reads a case's Kubernetes objects into a sorted, valid model
// and finds the proxy to translate for.
func loadModel(t *testing.T, path string) (*model.Mesh, Proxy) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, meshv1.AddToScheme, gwapiv1.Install, mcsv1a1.Install} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var (
		mesh    *meshv1.Mesh
		svcs    []corev1.Service
		slices  []discoveryv1.EndpointSlice
		pods    []corev1.Pod
		tps     []*model.TrafficPolicy
		aps     []*model.AuthorizationPolicy
		routes  []*model.Route
		proxy   string
		gateway bool
		exports = map[model.NamespacedName]bool{}
		imports []*model.Import
		// explicit: the proxy runs without interception.
		explicit *Explicit
	)
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		// A peer's export as federation delivers it: not a Kubernetes kind.
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err == nil && tm.APIVersion == "test.plexus.dev/v1" && tm.Kind == "Import" {
			imp := struct {
				metav1.TypeMeta `json:",inline"`
				Spec            model.Import `json:"spec"`
			}{}
			if err := yaml.UnmarshalStrict(doc, &imp); err != nil {
				t.Fatalf("%s: Import: %v", path, err)
			}
			imports = append(imports, &imp.Spec)
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch o := obj.(type) {
		case *meshv1.Mesh:
			mesh = o
		case *corev1.Service:
			svcs = append(svcs, *o)
		case *discoveryv1.EndpointSlice:
			slices = append(slices, *o)
		case *meshv1.AuthorizationPolicy:
			ap, err := kube.AuthorizationPolicy(o)
			if err != nil {
				t.Fatal(err)
			}
			aps = append(aps, ap)
		case *meshv1.TrafficPolicy:
			tp, err := kube.TrafficPolicy(o)
			if err != nil {
				t.Fatal(err)
			}
			tps = append(tps, tp)
		case *gwapiv1.HTTPRoute:
			r, err := kube.HTTPRoute(o)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				routes = append(routes, r)
			}
		case *gwapiv1.GRPCRoute:
			r, err := kube.GRPCRoute(o)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				routes = append(routes, r)
			}
		case *mcsv1a1.ServiceExport:
			exports[model.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = true
		case *corev1.Pod:
			pods = append(pods, *o)
			switch o.Annotations[proxyAnnotation] {
			case "true":
				proxy = o.Namespace + "/" + o.Name
			case "gateway":
				proxy, gateway = o.Namespace+"/"+o.Name, true
			}
			if app, ok := o.Annotations[appAddressAnnotation]; ok {
				ups, err := nodemeta.ParseUpstreams(o.Annotations[upstreamsAnnotation], o.Namespace, netip.MustParseAddr(o.Status.PodIP))
				if err != nil {
					t.Fatal(err)
				}
				explicit = &Explicit{IP: netip.MustParseAddr(o.Status.PodIP), App: netip.MustParseAddr(app), Upstreams: ups}
			}
		default:
			t.Fatalf("%s: %T is not used by the translation yet", path, obj)
		}
	}
	if mesh == nil || proxy == "" {
		t.Fatalf("%s needs a Mesh and a Pod annotated %s: \"true\" (or \"gateway\")", path, proxyAnnotation)
	}
	settings, err := kube.Settings(mesh)
	if err != nil {
		t.Fatal(err)
	}
	cluster := kube.Cluster{Name: settings.ClusterName, TrustDomain: settings.TrustDomain}
	services := kube.Services(cluster, svcs, slices, pods)
	for _, svc := range services {
		svc.Exported = exports[svc.Key]
	}
	m := &model.Mesh{Settings: settings, Services: services, Workloads: kube.Workloads(pods, services), TrafficPolicies: tps, AuthorizationPolicies: aps, Routes: routes, Imports: imports}
	m.ApplyImports()
	m.Sort()
	if err := m.Validate(); err != nil {
		t.Fatalf("%s: the model does not validate: %v", path, err)
	}
	p := Proxy{Gateway: gateway, Explicit: explicit}
	for _, w := range m.Workloads {
		if w.Key.String() == proxy {
			p.Workload = w
		}
	}
	return m, p
}

// render writes resources as YAML with sorted keys, through JSON: protojson
// output is deliberately unstable in its spacing.
func render(t *testing.T, r *Resources) []byte {
	t.Helper()
	conv := func(msgs []proto.Message) []any {
		out := make([]any, 0, len(msgs))
		for _, m := range msgs {
			b, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	doc := map[string]any{
		"clusters":  conv(messages(r.Clusters)),
		"endpoints": conv(messages(r.Endpoints)),
		"listeners": conv(messages(r.Listeners)),
		"routes":    conv(messages(r.Routes)),
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func messages[M proto.Message](list []M) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}
