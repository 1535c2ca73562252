package inject

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/model/kube"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Pod annotations read by the injector.
const (
	// AnnotationInject: "false" keeps a pod of an injected namespace
	// without a sidecar; "true" is the default.
	AnnotationInject = "mesh.plexus.dev/inject"
	// AnnotationAppPorts lists the ports the application serves, such as
	// "8080/http,9090/grpc". Default: the containers' declared ports, with
	// the protocol taken from the port name (http-*, http2-*, grpc-*, tcp-*).
	AnnotationAppPorts = "mesh.plexus.dev/app-ports"
	// AnnotationExcludeInboundPorts lists inbound ports the proxy does not
	// intercept.
	AnnotationExcludeInboundPorts = "mesh.plexus.dev/exclude-inbound-ports"
	// AnnotationExcludeOutboundPorts lists outbound ports the proxy does not
	// intercept.
	AnnotationExcludeOutboundPorts = "mesh.plexus.dev/exclude-outbound-ports"
	// AnnotationExcludeOutboundCIDRs lists destinations reached directly.
	AnnotationExcludeOutboundCIDRs = "mesh.plexus.dev/exclude-outbound-cidrs"
	// AnnotationLogLevel sets the proxy's log level.
	AnnotationLogLevel = "mesh.plexus.dev/proxy-log-level"
	// AnnotationInjected is set by the injector to the proxy image it
	// injected.
	AnnotationInjected = "mesh.plexus.dev/injected"
)

// options are a pod's validated annotations.
type options struct {
	appPorts        []nodemeta.Port // nil: from the containers
	excludeInbound  []int
	excludeOutbound []int
	excludeCIDRs    []netip.Prefix
	logLevel        string
}

// OptedOut reports whether the pod asks not to be injected.
func OptedOut(annotations map[string]string) bool {
	return annotations[AnnotationInject] == "false"
}

// parseAnnotations validates every annotation the injector reads and
// reports all problems at once, each with what to write instead.
func parseAnnotations(a map[string]string) (options, error) {
	var o options
	var errs []error
	if v, ok := a[AnnotationInject]; ok && v != "true" && v != "false" {
		errs = append(errs, fmt.Errorf("annotation %s is %q: use \"false\" to keep this pod out of the mesh, or remove it", AnnotationInject, v))
	}
	if v, ok := a[AnnotationAppPorts]; ok {
		ports, err := nodemeta.ParsePorts(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationAppPorts, err))
		case len(ports) == 0:
			errs = append(errs, fmt.Errorf("annotation %s is empty: list ports such as 8080/http,9090/grpc, or remove it to use the containers' ports", AnnotationAppPorts))
		default:
			o.appPorts = ports
		}
	}
	var err error
	if o.excludeInbound, err = parsePortList(a, AnnotationExcludeInboundPorts); err != nil {
		errs = append(errs, err)
	}
	if o.excludeOutbound, err = parsePortList(a, AnnotationExcludeOutboundPorts); err != nil {
		errs = append(errs, err)
	}
	if v, ok := a[AnnotationExcludeOutboundCIDRs]; ok {
		for _, item := range splitList(v) {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("annotation %s: %q is not a CIDR such as 10.0.0.0/8 or 169.254.169.254/32", AnnotationExcludeOutboundCIDRs, item))
				continue
			}
			o.excludeCIDRs = append(o.excludeCIDRs, p)
		}
	}
	if v, ok := a[kube.AnnotationEgress]; ok {
		// "." stands for the pod's namespace, unknown at this point; any
		// valid name checks the syntax.
		if _, err := model.ParseEgress(v, "default"); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", kube.AnnotationEgress, err))
		}
	}
	if v, ok := a[kube.AnnotationMTLSMode]; ok {
		if _, err := model.ParseMTLSMode(v); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", kube.AnnotationMTLSMode, err))
		}
	}
	if v, ok := a[AnnotationLogLevel]; ok {
		switch v {
		case "debug", "info", "warn", "error":
			o.logLevel = v
		default:
			errs = append(errs, fmt.Errorf("annotation %s is %q: use debug, info, warn or error", AnnotationLogLevel, v))
		}
	}
	return o, errors.Join(errs...)
}

func parsePortList(a map[string]string, key string) ([]int, error) {
	v, ok := a[key]
	if !ok {
		return nil, nil
	}
	var out []int
	for _, item := range splitList(v) {
		n, err := strconv.Atoi(item)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("annotation %s: %q is not a port number 1-65535; write ports separated by commas, such as 5432,6379", key, item)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}
