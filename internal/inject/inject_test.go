package inject

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testConfig = Config{ProxyImage: "proxy:1", XDSAddress: "cp:15010", ClusterName: "east"}

func pod(annotations map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: ports}}},
	}
}

func args(c corev1.Container) string { return strings.Join(c.Args, " ") }

func TestInjectedPod(t *testing.T) {
	p := pod(map[string]string{
		AnnotationExcludeInboundPorts:  "9901",
		AnnotationExcludeOutboundPorts: "5432, 6379",
		AnnotationExcludeOutboundCIDRs: "169.254.169.254/32",
		AnnotationLogLevel:             "debug",
	}, corev1.ContainerPort{Name: "http-web", ContainerPort: 8080}, corev1.ContainerPort{Name: "metrics", ContainerPort: 9901},
		corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})
	if err := Inject(p, testConfig); err != nil {
		t.Fatal(err)
	}
	init, proxy := p.Spec.InitContainers[0], p.Spec.InitContainers[1]
	if want := "init --proxy-uid=1337 --exclude-inbound-ports=15020,9901 --exclude-outbound-ports=5432,6379 --exclude-outbound-cidrs=169.254.169.254/32"; args(init) != want {
		t.Errorf("init args\n%s\nwant\n%s", args(init), want)
	}
	for _, want := range []string{"--app-ports=8080/http,9901 ", "--workload=web-1", "--service-account=default", "--log-level=debug", "--status-address=:15020"} {
		if !strings.Contains(args(proxy)+" ", want) {
			t.Errorf("proxy args %q lack %q", args(proxy), want)
		}
	}
	if sc := proxy.SecurityContext; !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || *sc.RunAsUser != ProxyUID {
		t.Error("the proxy must run as its own non-root user with a read-only root filesystem")
	}
	if Skip(p) != "the pod already has a proxy" {
		t.Errorf("a second injection is not skipped: %q", Skip(p))
	}
}

func TestAnnotationOverridesPorts(t *testing.T) {
	p := pod(map[string]string{AnnotationAppPorts: "9090/grpc"}, corev1.ContainerPort{ContainerPort: 8080})
	if err := Inject(p, testConfig); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(args(p.Spec.InitContainers[1]), "--app-ports=9090/grpc ") {
		t.Errorf("args %q: the annotation should replace the containers' ports", args(p.Spec.InitContainers[1]))
	}
}

func TestRefusals(t *testing.T) {
	cases := map[string]struct {
		pod  *corev1.Pod
		want string
	}{
		"reserved port":         {pod(nil, corev1.ContainerPort{ContainerPort: 15001}), "application port 15001 is reserved"},
		"empty app ports":       {pod(map[string]string{AnnotationAppPorts: " "}), "is empty"},
		"port out of range":     {pod(map[string]string{AnnotationExcludeInboundPorts: "70000"}), `"70000" is not a port number`},
		"bad log level":         {pod(map[string]string{AnnotationLogLevel: "trace"}), "use debug, info, warn or error"},
		"every problem at once": {pod(map[string]string{AnnotationLogLevel: "trace", AnnotationExcludeOutboundPorts: "x"}), `"x" is not a port`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := Inject(c.pod, testConfig)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Inject: %v, want an error saying %q", err, c.want)
			}
			if len(c.pod.Spec.InitContainers) != 0 {
				t.Fatal("a refused pod was changed")
			}
		})
	}
}

func TestSkip(t *testing.T) {
	host := pod(nil)
	host.Spec.HostNetwork = true
	if !strings.Contains(Skip(host), "host network") {
		t.Errorf("host network pod: %q", Skip(host))
	}
	if !strings.Contains(Skip(pod(map[string]string{AnnotationInject: "false"})), "false") {
		t.Error("opted-out pod not skipped")
	}
	if Skip(pod(map[string]string{AnnotationInject: "true"})) != "" {
		t.Error("a pod with inject=true is skipped")
	}
}

// With SPIRE the proxy reads the agent's socket, mounted by the SPIFFE CSI
// driver, instead of using a token and the Plexus CA.
func TestInjectWithSPIRE(t *testing.T) {
	c := testConfig
	c.WorkloadAPISocket = "unix:///run/spire/agent-sockets/spire-agent.sock"
	p := pod(nil, corev1.ContainerPort{ContainerPort: 8080})
	if err := Inject(p, c); err != nil {
		t.Fatal(err)
	}
	proxy := p.Spec.InitContainers[1]
	if a := args(proxy); !strings.Contains(a, "--spiffe-socket=unix:///run/spire/agent-sockets/spire-agent.sock") || strings.Contains(a, "--ca-address") {
		t.Fatalf("proxy args %q", a)
	}
	if len(proxy.VolumeMounts) != 1 || proxy.VolumeMounts[0].MountPath != "/run/spire/agent-sockets" {
		t.Fatalf("mounts %+v: want the socket directory", proxy.VolumeMounts)
	}
	if v := p.Spec.Volumes[0]; v.CSI == nil || v.CSI.Driver != "csi.spiffe.io" {
		t.Fatalf("volume %+v: want the SPIFFE CSI driver", v)
	}
}
