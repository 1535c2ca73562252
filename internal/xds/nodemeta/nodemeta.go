// Package nodemeta is the contract between a proxy and the control plane
// about who the proxy is: the xDS node metadata a proxy sends when it
// connects (workload, namespace, service account, cluster, the ports its
// application serves) and how it is encoded, and the names of the secrets
// the proxy holds.
package nodemeta

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

// Keys in the node metadata struct.
const (
	keyWorkload       = "plexus.workload"
	keyNamespace      = "plexus.namespace"
	keyServiceAccount = "plexus.service_account"
	keyCluster        = "plexus.cluster"
	keyPorts          = "plexus.app_ports"
	keyLabels         = "plexus.labels"
	keyIP             = "plexus.ip"
	keyEgress         = "plexus.egress"
	keyMTLSMode       = "plexus.mtls_mode"
	keyRole           = "plexus.role"
	keyInterception   = "plexus.interception"
	keyAppAddress     = "plexus.app_address"
	keyUpstreams      = "plexus.upstreams"
	keyMetrics        = "plexus.metrics_address"
)

// RoleGateway marks an east-west gateway; proxies without a role are
// sidecars.
const RoleGateway = "gateway"

// Port is a port the application serves.
type Port struct {
	Port     uint32
	Protocol string // http, http2, grpc, tcp, or "" to sniff
}

// Metadata describes the workload beside a proxy.
type Metadata struct {
	Workload       string
	Namespace      string
	ServiceAccount string
	Cluster        string
	// IP is the address peers reach the workload's proxy on.
	IP     string
	Ports  []Port
	Labels map[string]string
	// Egress lists the services the workload calls, NAMESPACE/SERVICE
	// patterns separated by commas; empty means all it may see.
	Egress string
	// MTLSMode overrides the namespace's mTLS mode for the workload:
	// STRICT, PERMISSIVE, or "" to keep it.
	MTLSMode string
	// Role is RoleGateway for an east-west gateway, "" for a sidecar.
	Role string
	// Interception is how traffic reaches the proxy: InterceptionIPTables
	// ("" too) or InterceptionNone.
	Interception string
	// AppAddress is where the application listens, with InterceptionNone.
	AppAddress string
	// Upstreams are the services the application calls at local addresses,
	// with InterceptionNone.
	Upstreams []Upstream
	// MetricsAddress is where the proxy serves /metrics, host:port; an
	// empty or unspecified host means IP. The control plane scrapes it
	// when there is no Prometheus.
	MetricsAddress string
}

// MetricsURL is the proxy's /metrics URL, "" when it does not say.
func (m *Metadata) MetricsURL() string {
	host, port, err := net.SplitHostPort(m.MetricsAddress)
	if err != nil || port == "" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = m.IP
	}
	if host == "" {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port) + "/metrics"
}

// Validate reports what is missing or malformed.
func (m *Metadata) Validate() error {
	var errs []error
	for name, v := range map[string]string{"workload": m.Workload, "namespace": m.Namespace, "service account": m.ServiceAccount} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
	}
	if m.Role != "" && m.Role != RoleGateway {
		errs = append(errs, fmt.Errorf("role %q is not %q or empty (a sidecar)", m.Role, RoleGateway))
	}
	for _, p := range m.Ports {
		if p.Port == 0 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("port %d is out of range 1-65535", p.Port))
		}
	}
	if err := m.ValidateInterception(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Struct encodes the metadata for the xDS Node.
func (m *Metadata) Struct() *structpb.Struct {
	labels := map[string]any{}
	for k, v := range m.Labels {
		labels[k] = v
	}
	s, err := structpb.NewStruct(map[string]any{
		keyWorkload:       m.Workload,
		keyNamespace:      m.Namespace,
		keyServiceAccount: m.ServiceAccount,
		keyCluster:        m.Cluster,
		keyIP:             m.IP,
		keyPorts:          FormatPorts(m.Ports),
		keyLabels:         labels,
		keyEgress:         m.Egress,
		keyMTLSMode:       m.MTLSMode,
		keyRole:           m.Role,
		keyInterception:   m.Interception,
		keyAppAddress:     m.AppAddress,
		keyUpstreams:      FormatUpstreams(m.Upstreams),
		keyMetrics:        m.MetricsAddress,
	})
	if err != nil { // only strings and a map of strings: cannot fail
		panic(fmt.Sprintf("nodemeta: %v", err))
	}
	return s
}

// FromStruct decodes node metadata.
func FromStruct(s *structpb.Struct) (*Metadata, error) {
	f := s.GetFields()
	m := &Metadata{
		Workload:       f[keyWorkload].GetStringValue(),
		Namespace:      f[keyNamespace].GetStringValue(),
		ServiceAccount: f[keyServiceAccount].GetStringValue(),
		Cluster:        f[keyCluster].GetStringValue(),
		IP:             f[keyIP].GetStringValue(),
		Egress:         f[keyEgress].GetStringValue(),
		MTLSMode:       f[keyMTLSMode].GetStringValue(),
		Role:           f[keyRole].GetStringValue(),
		Interception:   f[keyInterception].GetStringValue(),
		AppAddress:     f[keyAppAddress].GetStringValue(),
		MetricsAddress: f[keyMetrics].GetStringValue(),
	}
	ports, err := ParsePorts(f[keyPorts].GetStringValue())
	if err != nil {
		return nil, err
	}
	m.Ports = ports
	// Upstreams arrive with namespace and IP spelled out (FormatUpstreams).
	if m.Upstreams, err = ParseUpstreams(f[keyUpstreams].GetStringValue(), m.Namespace, netip.Addr{}); err != nil {
		return nil, err
	}
	if l := f[keyLabels].GetStructValue(); len(l.GetFields()) > 0 {
		m.Labels = map[string]string{}
		for k, v := range l.GetFields() {
			m.Labels[k] = v.GetStringValue()
		}
	}
	return m, m.Validate()
}

// ParsePorts parses "8080/http,9090/grpc,5432" (protocol optional).
func ParsePorts(s string) ([]Port, error) {
	var out []Port
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		num, proto, _ := strings.Cut(item, "/")
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("app port %q: want PORT or PORT/PROTOCOL with PORT in 1-65535, such as 8080/http", item)
		}
		switch proto {
		case "", "http", "http2", "grpc", "tcp":
		default:
			return nil, fmt.Errorf("app port %q: protocol %q is not one of http, http2, grpc, tcp", item, proto)
		}
		out = append(out, Port{Port: uint32(n), Protocol: proto})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out, nil
}

// FormatPorts is the inverse of ParsePorts.
func FormatPorts(ports []Port) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		s := strconv.Itoa(int(p.Port))
		if p.Protocol != "" {
			s += "/" + p.Protocol
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}
