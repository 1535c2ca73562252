package inject

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/plexus-mesh/plexus/internal/model/kube"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Names and ports of what the injector adds.
const (
	ProxyContainer = "plexus-proxy"
	InitContainer  = "plexus-init"
	TokenVolume    = "plexus-token"
	// TokenDir holds the projected ServiceAccount token (file "token")
	// the proxy proves its identity with.
	TokenDir = "/var/run/secrets/plexus/tokens"
	// TokenAudience is the audience of that token: it is good for the
	// Plexus CA and nothing else.
	TokenAudience = "plexus"
	// StatusPort serves the proxy's /ready and /metrics on the pod's
	// address; it is never intercepted.
	StatusPort = 15020
	// StatusPortName names the status port; the PodMonitor scrapes it.
	StatusPortName = "http-status"
	// LabelProxy marks an injected pod; the PodMonitor selects on it.
	LabelProxy = "mesh.plexus.dev/proxy"
	// ProxyUID is the user the proxy runs as; its own traffic is not
	// intercepted.
	ProxyUID = 1337
	// CARootConfigMap, in every injected namespace, holds the mesh CA's
	// roots (key CARootKey); the proxy verifies the certificate service
	// with them.
	CARootConfigMap = "plexus-ca-root"
	CARootKey       = "root.pem"
	caRootVolume    = "plexus-ca-root"
	caRootDir       = "/var/run/secrets/plexus/ca"
)

// Config is what every injected pod shares.
type Config struct {
	// ProxyImage runs both the proxy and the init container.
	ProxyImage string
	// XDSAddress is where proxies reach the control plane, host:port.
	XDSAddress string
	// CAAddress is where proxies obtain their certificates, host:port.
	CAAddress string
	// WorkloadAPISocket, when set, is a SPIRE agent's Workload API
	// (unix:///dir/socket) that proxies take certificates from instead;
	// its directory is mounted with the SPIFFE CSI driver.
	WorkloadAPISocket string
	// ClusterName is the mesh's cluster name.
	ClusterName string
	// Resources of the proxy container.
	Resources corev1.ResourceRequirements
}

// Skip says why pod must not be injected; "" means inject it.
func Skip(pod *corev1.Pod) string {
	switch {
	case OptedOut(pod.Annotations):
		return fmt.Sprintf("annotation %s is \"false\"", AnnotationInject)
	case pod.Spec.HostNetwork:
		return "the pod uses the host network: intercepting its traffic would intercept the node's"
	case hasContainer(pod, ProxyContainer):
		return "the pod already has a proxy"
	}
	return ""
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// Inject adds the init container, the proxy (a native sidecar: an init
// container that keeps running, so it starts before and stops after the
// application) and the identity token volume to pod. It fails, changing nothing, when the pod's annotations are
// invalid.
func Inject(pod *corev1.Pod, c Config) error {
	opts, err := parseAnnotations(pod.Annotations)
	if err != nil {
		return err
	}
	ports := opts.appPorts
	if ports == nil {
		ports = containerPorts(pod)
	}
	for _, p := range ports {
		if p.Port == StatusPort || (p.Port >= 15000 && p.Port <= 15010) {
			return fmt.Errorf("application port %d is reserved for the proxy (15000-15010 and %d): move the application to another port, or set %s to leave it out", p.Port, StatusPort, AnnotationAppPorts)
		}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	pod.Spec.InitContainers = append([]corev1.Container{initContainer(c, opts), proxyContainer(c, opts, ports, kube.WorkloadName(pod), sa)}, pod.Spec.InitContainers...)
	pod.Spec.Volumes = append(pod.Spec.Volumes, IdentityVolumes(c)...)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationInjected] = c.ProxyImage
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[LabelProxy] = "true"
	return nil
}

// containerPorts are the TCP ports the pod's containers declare, with the
// protocol taken from the port name's prefix as Kubernetes Services do.
func containerPorts(pod *corev1.Pod) []nodemeta.Port {
	seen := map[int32]bool{}
	var out []nodemeta.Port
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) || seen[p.ContainerPort] {
				continue
			}
			seen[p.ContainerPort] = true
			out = append(out, nodemeta.Port{Port: uint32(p.ContainerPort), Protocol: protocolFromName(p.Name)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

func protocolFromName(name string) string {
	prefix, _, _ := strings.Cut(strings.ToLower(name), "-")
	switch prefix {
	case "http", "http2", "grpc", "tcp":
		return prefix
	case "h2c":
		return "http2"
	}
	return ""
}

func initContainer(c Config, o options) corev1.Container {
	args := []string{"init", fmt.Sprintf("--proxy-uid=%d", ProxyUID), fmt.Sprintf("--exclude-inbound-ports=%s", joinInts(append([]int{StatusPort}, o.excludeInbound...)))}
	if len(o.excludeOutbound) > 0 {
		args = append(args, "--exclude-outbound-ports="+joinInts(o.excludeOutbound))
	}
	if len(o.excludeCIDRs) > 0 {
		cidrs := make([]string, len(o.excludeCIDRs))
		for i, p := range o.excludeCIDRs {
			cidrs[i] = p.String()
		}
		args = append(args, "--exclude-outbound-cidrs="+strings.Join(cidrs, ","))
	}
	return corev1.Container{
		Name:  InitContainer,
		Image: c.ProxyImage,
		Args:  args,
		Resources: corev1.ResourceRequirements{
			Requests: c.Resources.Requests,
			Limits:   c.Resources.Limits,
		},
		// Installing iptables rules in the pod's network namespace needs
		// NET_ADMIN and NET_RAW, and root; nothing else.
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

func proxyContainer(c Config, o options, ports []nodemeta.Port, workload, sa string) corev1.Container {
	logLevel := o.logLevel
	if logLevel == "" {
		logLevel = "info"
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	ready := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(StatusPort)}}}
	startup := ready.DeepCopy()
	startup.PeriodSeconds, startup.FailureThreshold = 1, 120
	return corev1.Container{
		Name:          ProxyContainer,
		Image:         c.ProxyImage,
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Args: append(append([]string{
			"sidecar",
			"--xds-address=" + c.XDSAddress,
			"--node-id=$(POD_NAME).$(POD_NAMESPACE)",
			"--workload=" + workload,
			"--namespace=$(POD_NAMESPACE)",
			"--service-account=" + sa,
			"--cluster=" + c.ClusterName,
			"--ip=$(POD_IP)",
			"--app-ports=" + nodemeta.FormatPorts(ports),
		}, IdentityArgs(c)...),
			fmt.Sprintf("--status-address=:%d", StatusPort),
			"--log-level="+logLevel,
		),

		Env:            []corev1.EnvVar{fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"), fieldEnv("POD_IP", "status.podIP")},
		Ports:          []corev1.ContainerPort{{Name: StatusPortName, ContainerPort: StatusPort, Protocol: corev1.ProtocolTCP}},
		Resources:      c.Resources,
		StartupProbe:   startup,
		ReadinessProbe: ready,
		VolumeMounts:   IdentityMounts(c),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](ProxyUID),
			RunAsGroup:               ptr.To[int64](ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}
