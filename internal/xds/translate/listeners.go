package translate

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// virtualOutboundListener receives every intercepted outbound connection
// and hands it to the listener for its original destination; connections
// to addresses the mesh does not know pass through untouched.
func virtualOutboundListener() *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:               VirtualOutbound,
		Address:            build.Address("0.0.0.0", OutboundCapturePort),
		TrafficDirection:   corev3.TrafficDirection_OUTBOUND,
		UseOriginalDst:     wrapperspb.Bool(true),
		DefaultFilterChain: &listenerv3.FilterChain{Name: Passthrough, Filters: []*listenerv3.Filter{build.TCPProxy(Passthrough, Passthrough)}},
	}
}

// httpPortListener handles HTTP to any service on one port; the route
// configuration picks the service by authority.
func httpPortListener(port uint32) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             fmt.Sprintf("0.0.0.0_%d", port),
		Address:          build.Address("0.0.0.0", port),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		BindToPort:       wrapperspb.Bool(false),
		FilterChains:     []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{build.HTTPManager("outbound", RouteName(port))}}},
	}
}

// tcpServiceListeners handle a TCP (or unknown) port of a service, one per
// virtual IP. An unknown protocol is sniffed: HTTP goes to the port's
// routes, anything else is proxied as opaque TCP.
func tcpServiceListeners(svc *model.Service, port model.ServicePort, cluster string, sniff bool) []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, vip := range svc.VIPs {
		l := &listenerv3.Listener{
			Name:             fmt.Sprintf("%s_%d", vip, port.Port),
			Address:          build.Address(vip.String(), port.Port),
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
			BindToPort:       wrapperspb.Bool(false),
		}
		serviceChains(l, cluster, RouteName(port.Port), sniff)
		out = append(out, l)
	}
	return out
}

// serviceChains make l carry a service port: opaque TCP to cluster, or,
// sniffing, HTTP to the routes of routeName and anything else as TCP.
func serviceChains(l *listenerv3.Listener, cluster, routeName string, sniff bool) {
	tcp := &listenerv3.FilterChain{Name: "tcp", Filters: []*listenerv3.Filter{build.TCPProxy(cluster, cluster)}}
	if !sniff {
		l.FilterChains = []*listenerv3.FilterChain{tcp}
		return
	}
	l.FilterChains = []*listenerv3.FilterChain{{
		Name:             "http",
		FilterChainMatch: &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"http/1.1", "h2c"}},
		Filters:          []*listenerv3.Filter{build.HTTPManager("outbound", routeName)},
	}}
	l.DefaultFilterChain = tcp
}

// boundInboundListener takes one application port's inbound traffic on
// the workload's own address, for a proxy without interception.
func boundInboundListener(ip netip.Addr, port uint32, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             fmt.Sprintf("inbound|%s", netip.AddrPortFrom(ip, uint16(port))),
		Address:          build.Address(ip.String(), port),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains:     chains,
	}
}

// virtualInboundListener receives every intercepted inbound connection.
func virtualInboundListener(chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             VirtualInbound,
		Address:          build.Address("0.0.0.0", InboundCapturePort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		UseOriginalDst:   wrapperspb.Bool(true),
		FilterChains:     chains,
	}
}

// inboundChains are one application port's filter chains: mTLS always,
// and plaintext too in PERMISSIVE mode. In STRICT mode a plaintext
// connection matches no chain and is closed. clientTD, when set, is the
// only trust domain whose clients the mTLS chain accepts.
func inboundChains(port model.ServicePort, cluster string, mode model.MTLSMode, authz authorization, clientTD string) []*listenerv3.FilterChain {
	// Authorization runs first: DENY rules, then ALLOW rules.
	filters := func() []*listenerv3.Filter {
		if port.Protocol == model.ProtocolTCP {
			var out []*listenerv3.Filter
			for _, rules := range []*rbacv3.RBAC{authz.deny, authz.allow} {
				if rules != nil {
					out = append(out, build.RBACNetworkFilter("inbound", rules))
				}
			}
			return append(out, build.TCPProxy("inbound", cluster))
		}
		var hf []*hcmv3.HttpFilter
		for _, rules := range []*rbacv3.RBAC{authz.deny, authz.allow} {
			if rules != nil {
				hf = append(hf, build.RBACHTTPFilter(rules))
			}
		}
		return []*listenerv3.Filter{build.HTTPManagerWithFilters("inbound", InboundRouteName(port.Port), hf...)}
	}
	tlsChain := &listenerv3.FilterChain{
		Name:             fmt.Sprintf("inbound|%d|mtls", port.Port),
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: build.UInt32(port.Port), TransportProtocol: "tls"},
		Filters:          filters(),
		TransportSocket:  downstreamMTLS(clientTD),
	}
	chains := []*listenerv3.FilterChain{tlsChain}
	if mode == model.MTLSPermissive {
		chains = append(chains, &listenerv3.FilterChain{
			Name:             fmt.Sprintf("inbound|%d|plaintext", port.Port),
			FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: build.UInt32(port.Port), TransportProtocol: "raw_buffer"},
			Filters:          filters(),
		})
	}
	return chains
}

// clientTrustDomain is the only trust domain whose clients w accepts on
// port: the mesh's own, unless a Service exported to peer clusters serves
// w there. Then it is "", and a client of any trust domain the proxy holds
// a bundle for (its own and its federated peers') is accepted: peers reach
// what this cluster exports, and nothing else.
func clientTrustDomain(m *model.Mesh, w *model.Workload, port uint32) string {
	for _, svc := range m.Services {
		if svc.Exported && svc.Key.Namespace == w.Key.Namespace && servesOn(svc, w, port, m.Settings.ClusterName) {
			return ""
		}
	}
	return m.Settings.TrustDomain
}

// downstreamMTLS terminates mTLS, requiring a client certificate one of the
// proxy's trust bundles verifies and, when clientTD is set, a SPIFFE ID in
// that trust domain.
func downstreamMTLS(clientTD string) *corev3.TransportSocket {
	roots := &tlsv3.SdsSecretConfig{Name: RootSecret, SdsConfig: build.ADS()}
	common := &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: CertificateSecret, SdsConfig: build.ADS()}},
		ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: roots},
		AlpnProtocols:                  []string{"h2", "http/1.1"},
	}
	if clientTD != "" {
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: prefix("spiffe://" + clientTD + "/"),
			}}},
			ValidationContextSdsSecretConfig: roots,
		}}
	}
	ctx := &tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true), CommonTlsContext: common}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(ctx)}}
}
