package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/proto"
)

// Defaults applied when a resource leaves a setting out.
const (
	DefaultConnectTimeout         = 5 * time.Second
	DefaultIdleTimeout            = time.Hour
	DefaultRequestHeadersTimeout  = 10 * time.Second
	DefaultMaxRequestHeadersBytes = 60 << 10
	DefaultCircuitBreakerLimit    = 1024
	DefaultMaxRetries             = 3
	DefaultOutlierInterval        = 10 * time.Second
	DefaultBaseEjectionTime       = 30 * time.Second
	DefaultMaxEjectionTime        = 300 * time.Second
)

// Listener filters the proxy implements itself (sniffing and original
// destination are always on), so naming them is allowed.
var knownListenerFilters = map[string]bool{
	wellknown.TLSInspector:        true,
	wellknown.HTTPInspector:       true,
	wellknown.OriginalDestination: true,
}

// CompileListener compiles an xDS Listener.
func CompileListener(l *listenerv3.Listener) (*Listener, error) {
	if l.GetName() == "" {
		return nil, errors.New("listener without a name")
	}
	out, err := compileListener(l)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", l.GetName(), err)
	}
	return out, nil
}

func compileListener(l *listenerv3.Listener) (*Listener, error) {
	addr, err := socketAddress(l.GetAddress())
	if err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	out := &Listener{
		Name:           l.GetName(),
		Address:        addr,
		BindToPort:     boolOr(l.GetBindToPort(), true),
		UseOriginalDst: boolOr(l.GetUseOriginalDst(), false),
	}
	if l.GetTrafficDirection() == corev3.TrafficDirection_INBOUND {
		out.Direction = Inbound
	}
	for _, f := range l.GetListenerFilters() {
		if !knownListenerFilters[f.GetName()] {
			return nil, fmt.Errorf("listener filter %q is not supported", f.GetName())
		}
	}
	for i, fc := range l.GetFilterChains() {
		c, err := compileFilterChain(fc)
		if err != nil {
			return nil, fmt.Errorf("filter_chains[%d]: %w", i, err)
		}
		out.FilterChains = append(out.FilterChains, c)
	}
	if dfc := l.GetDefaultFilterChain(); dfc != nil {
		if out.DefaultChain, err = compileFilterChain(dfc); err != nil {
			return nil, fmt.Errorf("default_filter_chain: %w", err)
		}
	}
	if len(out.FilterChains) == 0 && out.DefaultChain == nil && !out.UseOriginalDst {
		return nil, errors.New("no filter chains: the listener could not handle any connection")
	}
	return out, nil
}

func socketAddress(a *corev3.Address) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", errors.New("only socket addresses are supported")
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", fmt.Errorf("protocol %s is not supported, only TCP", sa.GetProtocol())
	}
	if net.ParseIP(sa.GetAddress()) == nil {
		return "", fmt.Errorf("%q is not an IP address", sa.GetAddress())
	}
	port := sa.GetPortValue()
	if port > 65535 {
		return "", fmt.Errorf("port %d is out of range", port)
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(port))), nil
}

func compileFilterChain(fc *listenerv3.FilterChain) (*FilterChain, error) {
	out := &FilterChain{Name: fc.GetName()}
	if m := fc.GetFilterChainMatch(); m != nil {
		if len(m.GetPrefixRanges()) > 0 || len(m.GetSourcePrefixRanges()) > 0 || len(m.GetSourcePorts()) > 0 {
			return nil, errors.New("filter_chain_match supports destination_port, server_names, transport_protocol and application_protocols only")
		}
		out.Match = ChainMatch{
			DestinationPort:      m.GetDestinationPort().GetValue(),
			TransportProtocol:    m.GetTransportProtocol(),
			ApplicationProtocols: m.GetApplicationProtocols(),
		}
		for _, n := range m.GetServerNames() {
			if err := checkServerName(n); err != nil {
				return nil, fmt.Errorf("filter_chain_match.server_names: %w", err)
			}
			out.Match.ServerNames = append(out.Match.ServerNames, strings.ToLower(n))
		}
		if len(out.Match.ServerNames) > 0 && out.Match.TransportProtocol == "" {
			out.Match.TransportProtocol = "tls" // only TLS carries a server name
		}
		switch out.Match.TransportProtocol {
		case "", "tls", "raw_buffer":
		default:
			return nil, fmt.Errorf("transport_protocol %q: use \"tls\" or \"raw_buffer\"", out.Match.TransportProtocol)
		}
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		ctx := &tlsv3.DownstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			return nil, fmt.Errorf("transport_socket %q: want a DownstreamTlsContext: %w", ts.GetName(), err)
		}
		t, err := compileDownstreamTLS(ctx)
		if err != nil {
			return nil, fmt.Errorf("transport_socket: %w", err)
		}
		out.TLS = t
	}
	filters := fc.GetFilters()
	if len(filters) == 0 {
		return nil, errors.New("want a network filter: http_connection_manager or tcp_proxy")
	}
	// Authorization filters may come first; the last filter handles the
	// connection.
	for _, f := range filters[:len(filters)-1] {
		if f.GetName() != wellknown.RoleBasedAccessControl {
			return nil, fmt.Errorf("network filter %q before the last one: only %s may come before %s or %s", f.GetName(), wellknown.RoleBasedAccessControl, wellknown.HTTPConnectionManager, wellknown.TCPProxy)
		}
		cfg := &rbacnetv3.RBAC{}
		if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		if cfg.GetShadowRules() != nil || cfg.GetMatcher() != nil {
			return nil, fmt.Errorf("filter %q: only rules are supported, not shadow_rules or matcher", f.GetName())
		}
		if cfg.GetRules() == nil {
			continue // no rules: the filter allows everything
		}
		r, err := CompileRBAC(cfg.GetRules())
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		out.RBAC = append(out.RBAC, r)
	}
	f := filters[len(filters)-1]
	switch f.GetName() {
	case wellknown.HTTPConnectionManager:
		hcm := &hcmv3.HttpConnectionManager{}
		if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		h, err := compileHCM(hcm)
		if err != nil {
			return nil, fmt.Errorf("http_connection_manager: %w", err)
		}
		out.HTTP = h
	case wellknown.TCPProxy:
		tp := &tcpv3.TcpProxy{}
		if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		if tp.GetCluster() == "" {
			return nil, errors.New("tcp_proxy: cluster is required (weighted clusters are not supported)")
		}
		idle, err := durationOr(tp.GetIdleTimeout(), DefaultIdleTimeout, "tcp_proxy.idle_timeout")
		if err != nil {
			return nil, err
		}
		out.TCP = &TCPProxy{StatPrefix: tp.GetStatPrefix(), Cluster: tp.GetCluster(), IdleTimeout: idle}
	default:
		return nil, fmt.Errorf("network filter %q is not supported: use %s or %s", f.GetName(), wellknown.HTTPConnectionManager, wellknown.TCPProxy)
	}
	return out, nil
}

// checkServerName accepts a DNS name, or "*." and a DNS name.
func checkServerName(n string) error {
	name := strings.TrimPrefix(n, "*.")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a server name", n)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("%q is not a server name: label %q", n, label)
		}
		for _, r := range label {
			if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
				return fmt.Errorf("%q is not a server name: %q in label %q", n, r, label)
			}
		}
	}
	return nil
}

func compileHCM(h *hcmv3.HttpConnectionManager) (*HTTPManager, error) {
	out := &HTTPManager{StatPrefix: h.GetStatPrefix()}
	switch {
	case h.GetRds() != nil:
		out.RouteName = h.GetRds().GetRouteConfigName()
		if out.RouteName == "" {
			return nil, errors.New("rds.route_config_name is required")
		}
	case h.GetRouteConfig() != nil:
		rt, err := CompileRouteTable(h.GetRouteConfig())
		if err != nil {
			return nil, err
		}
		out.Routes = rt
	default:
		return nil, errors.New("set rds or route_config")
	}
	for _, f := range h.GetHttpFilters() {
		switch {
		case f.GetName() == wellknown.HTTPRoleBasedAccessControl:
			cfg := &rbachttpv3.RBAC{}
			if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
				return nil, fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
			if cfg.GetShadowRules() != nil || cfg.GetMatcher() != nil {
				return nil, fmt.Errorf("http filter %q: only rules are supported, not shadow_rules or matcher", f.GetName())
			}
			if cfg.GetRules() == nil {
				continue
			}
			r, err := CompileRBAC(cfg.GetRules())
			if err != nil {
				return nil, fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
			out.RBAC = append(out.RBAC, r)
		case f.GetName() != wellknown.Router && !f.GetIsOptional():
			return nil, fmt.Errorf("http filter %q is not supported: use %s and %s", f.GetName(), wellknown.HTTPRoleBasedAccessControl, wellknown.Router)
		}
	}
	var err error
	if out.IdleTimeout, err = durationOr(h.GetCommonHttpProtocolOptions().GetIdleTimeout(), DefaultIdleTimeout, "common_http_protocol_options.idle_timeout"); err != nil {
		return nil, err
	}
	if out.StreamIdleTimeout, err = durationOr(h.GetStreamIdleTimeout(), 0, "stream_idle_timeout"); err != nil {
		return nil, err
	}
	if out.RequestHeadersTimeout, err = durationOr(h.GetRequestHeadersTimeout(), DefaultRequestHeadersTimeout, "request_headers_timeout"); err != nil {
		return nil, err
	}
	if out.RequestHeadersTimeout == 0 {
		out.RequestHeadersTimeout = DefaultRequestHeadersTimeout
	}
	out.MaxRequestHeadersBytes = u32Or(h.GetMaxRequestHeadersKb(), DefaultMaxRequestHeadersBytes>>10) << 10
	return out, nil
}

func compileDownstreamTLS(ctx *tlsv3.DownstreamTlsContext) (*DownstreamTLS, error) {
	cert, validation, err := commonTLSSecrets(ctx.GetCommonTlsContext())
	if err != nil {
		return nil, err
	}
	if cert == "" {
		return nil, errors.New("a server certificate (tls_certificate_sds_secret_configs) is required")
	}
	out := &DownstreamTLS{
		CertificateSecret: cert,
		ValidationSecret:  validation,
		RequireClientCert: boolOr(ctx.GetRequireClientCertificate(), false),
		ALPN:              ctx.GetCommonTlsContext().GetAlpnProtocols(),
	}
	if out.RequireClientCert && validation == "" {
		return nil, errors.New("require_client_certificate needs a validation context to verify client certificates against")
	}
	if out.TrustDomains, err = clientTrustDomains(ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext()); err != nil {
		return nil, err
	}
	if len(out.TrustDomains) > 0 && !out.RequireClientCert {
		return nil, errors.New("match_typed_subject_alt_names needs require_client_certificate: without a client certificate there is no SAN to match")
	}
	return out, nil
}

// clientTrustDomains reads the client SAN matchers of an inbound
// validation context. The proxy supports one form, which admits the clients
// of one trust domain: a URI SAN matcher with the prefix
// "spiffe://<trust domain>/". Anything else is refused rather than
// ignored: a matcher the proxy skipped would let in clients it should keep
// out.
func clientTrustDomains(v *tlsv3.CertificateValidationContext) ([]string, error) {
	const supported = `only URI SAN matchers with a prefix "spiffe://<trust domain>/" are supported`
	if v == nil {
		return nil, nil
	}
	rest := proto.Clone(v).(*tlsv3.CertificateValidationContext)
	rest.MatchTypedSubjectAltNames = nil
	if proto.Size(rest) > 0 {
		return nil, errors.New("default_validation_context: only match_typed_subject_alt_names is supported; send trusted CAs as an SDS Secret")
	}
	var out []string
	for i, san := range v.GetMatchTypedSubjectAltNames() {
		if san.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
			return nil, fmt.Errorf("match_typed_subject_alt_names[%d]: SAN type %s: %s", i, san.GetSanType(), supported)
		}
		p, ok := san.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Prefix)
		if !ok {
			return nil, fmt.Errorf("match_typed_subject_alt_names[%d]: %s", i, supported)
		}
		if san.GetMatcher().GetIgnoreCase() {
			return nil, fmt.Errorf("match_typed_subject_alt_names[%d]: ignore_case is not supported: SPIFFE trust domains are lowercase, %s", i, supported)
		}
		name, scheme := strings.CutPrefix(p.Prefix, "spiffe://")
		name, slash := strings.CutSuffix(name, "/")
		if !scheme || !slash {
			return nil, fmt.Errorf("match_typed_subject_alt_names[%d]: prefix %q: %s", i, p.Prefix, supported)
		}
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil || td.Name() != name {
			return nil, fmt.Errorf("match_typed_subject_alt_names[%d]: prefix %q: %q is not a trust domain name: %s", i, p.Prefix, name, supported)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// commonTLSSecrets returns the SDS secret names of the certificate and the
// validation context. Inline certificates are refused: key material only
// travels as SDS Secrets.
func commonTLSSecrets(c *tlsv3.CommonTlsContext) (cert, validation string, err error) {
	if len(c.GetTlsCertificates()) > 0 {
		return "", "", errors.New("inline tls_certificates are not supported: send the certificate as an SDS Secret")
	}
	switch sds := c.GetTlsCertificateSdsSecretConfigs(); len(sds) {
	case 0:
	case 1:
		cert = sds[0].GetName()
	default:
		return "", "", errors.New("at most one tls_certificate_sds_secret_config is supported")
	}
	switch {
	case c.GetValidationContextSdsSecretConfig() != nil:
		validation = c.GetValidationContextSdsSecretConfig().GetName()
	case c.GetCombinedValidationContext() != nil:
		validation = c.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName()
	case c.GetValidationContext() != nil:
		return "", "", errors.New("inline validation_context is not supported: send trusted CAs as an SDS Secret")
	}
	return cert, validation, nil
}
