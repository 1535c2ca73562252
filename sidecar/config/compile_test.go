package config_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/plexus-mesh/plexus/internal/xds/build"
	"github.com/plexus-mesh/plexus/sidecar/config"
)

// wantErr fails unless err mentions every one of want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not mention %q", err, w)
		}
	}
}

func deepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// errCase edits a valid resource so that it no longer compiles.
type errCase[M any] struct {
	name string
	edit func(M)
	want []string
}

// testErrors checks that each case fails to compile with an error that
// says what is wrong, and yields nothing.
func testErrors[M any, R any](t *testing.T, valid func() M, compile func(M) (*R, error), cases []errCase[M], prefix ...string) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.edit(m)
			got, err := compile(m)
			wantErr(t, err, slices.Concat(prefix, tt.want)...)
			if got != nil {
				t.Fatalf("got a result with the error: %+v", got)
			}
		})
	}
}

func tlsSocket(m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: build.Any(m)}}
}

func sds(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: build.ADS()}
}

// hcm is an http_connection_manager routing with RDS to "routes", changed
// by edit.
func hcm(edit func(*hcmv3.HttpConnectionManager)) *listenerv3.Filter {
	h := &hcmv3.HttpConnectionManager{}
	if err := build.HTTPManager("out", "routes").GetTypedConfig().UnmarshalTo(h); err != nil {
		panic(err)
	}
	edit(h)
	return &listenerv3.Filter{Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: build.Any(h)}}
}

func TestCompileListener(t *testing.T) {
	l := build.Listener("outbound", "127.0.0.1", 15001, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("out", "routes"))
	l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: wellknown.TLSInspector}, {Name: wellknown.HTTPInspector}}
	l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
		Name:             "db",
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: build.UInt32(5432), TransportProtocol: "raw_buffer"},
		Filters:          []*listenerv3.Filter{build.TCPProxy("db", "postgres")},
	})
	l.DefaultFilterChain = &listenerv3.FilterChain{Filters: []*listenerv3.Filter{build.TCPProxy("pass", "passthrough")}}
	got, err := config.CompileListener(l)
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Listener{
		Name: "outbound", Address: "127.0.0.1:15001", Direction: config.Outbound, BindToPort: true,
		FilterChains: []*config.FilterChain{
			{HTTP: &config.HTTPManager{StatPrefix: "out", RouteName: "routes", IdleTimeout: time.Hour, RequestHeadersTimeout: 10 * time.Second, MaxRequestHeadersBytes: 60 << 10}},
			{Name: "db", Match: config.ChainMatch{DestinationPort: 5432, TransportProtocol: "raw_buffer"}, TCP: &config.TCPProxy{StatPrefix: "db", Cluster: "postgres", IdleTimeout: time.Hour}},
		},
		DefaultChain: &config.FilterChain{TCP: &config.TCPProxy{StatPrefix: "pass", Cluster: "passthrough", IdleTimeout: time.Hour}},
	}
	deepEqual(t, "listener", got, want)

	// Inbound, virtual (no socket), TLS terminating, inline routes, explicit
	// timeouts and an optional filter the proxy does not know.
	in := build.Listener("inbound", "10.0.0.1", 8080, corev3.TrafficDirection_INBOUND, hcm(func(h *hcmv3.HttpConnectionManager) {
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: build.RouteConfig("inline", build.VirtualHost("vh", []string{"*"}, build.RouteToCluster("r", "local", time.Second)))}
		h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.lua", IsOptional: true}}, h.HttpFilters...)
		h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: build.Duration(time.Minute)}
		h.StreamIdleTimeout = build.Duration(30 * time.Second)
		h.RequestHeadersTimeout = build.Duration(0) // 0 means the default
		h.MaxRequestHeadersKb = build.UInt32(8)
	}))
	in.BindToPort = wrapperspb.Bool(false)
	in.FilterChains[0].TransportSocket = tlsSocket(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default")},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds("ROOTCA")},
			AlpnProtocols:                  []string{"h2", "http/1.1"},
		},
	})
	got, err = config.CompileListener(in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Direction != config.Inbound || got.BindToPort || got.Address != "10.0.0.1:8080" {
		t.Fatalf("inbound listener compiled to %+v", got)
	}
	fc := got.FilterChains[0]
	deepEqual(t, "downstream TLS", fc.TLS, &config.DownstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true, ALPN: []string{"h2", "http/1.1"}})
	h := fc.HTTP
	if h.RouteName != "" || h.Routes == nil || h.Routes.Name != "inline" || h.Routes.VirtualHosts[0].Routes[0].Forward.Backends[0].Cluster != "local" {
		t.Fatalf("inline routes not compiled: %+v", h)
	}
	if h.IdleTimeout != time.Minute || h.StreamIdleTimeout != 30*time.Second || h.RequestHeadersTimeout != 10*time.Second || h.MaxRequestHeadersBytes != 8<<10 {
		t.Fatalf("HTTP manager timeouts and limits: %+v", h)
	}

	// Client SAN matchers admit the trust domains they name, with the roots
	// of the combined validation context.
	in.FilterChains[0].TransportSocket = tlsSocket(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext:         clientTrustDomains(prefixURI("spiffe://east.example/"), prefixURI("spiffe://west.example/"), prefixURI("spiffe://east.example/")),
	})
	if got, err = config.CompileListener(in); err != nil {
		t.Fatal(err)
	}
	deepEqual(t, "downstream TLS with trust domains", got.FilterChains[0].TLS, &config.DownstreamTLS{
		CertificateSecret: "default", ValidationSecret: "ROOTCA", RequireClientCert: true, TrustDomains: []string{"east.example", "west.example"},
	})

	// A virtual listener that only hands connections over needs no chain.
	od := &listenerv3.Listener{Name: "virtual", Address: build.Address("0.0.0.0", 15001), UseOriginalDst: wrapperspb.Bool(true)}
	if got, err := config.CompileListener(od); err != nil || !got.UseOriginalDst || len(got.FilterChains) != 0 {
		t.Fatalf("use_original_dst listener: %+v, %v", got, err)
	}
}

func TestCompileListenerErrors(t *testing.T) {
	type L = *listenerv3.Listener
	tlsCtx := func(c *tlsv3.CommonTlsContext, requireClient bool) func(L) {
		return func(l L) {
			l.FilterChains[0].TransportSocket = tlsSocket(&tlsv3.DownstreamTlsContext{CommonTlsContext: c, RequireClientCertificate: wrapperspb.Bool(requireClient)})
		}
	}
	filter := func(f *listenerv3.Filter) func(L) {
		return func(l L) { l.FilterChains[0].Filters = []*listenerv3.Filter{f} }
	}
	chainMatch := func(m *listenerv3.FilterChainMatch) func(L) {
		return func(l L) { l.FilterChains[0].FilterChainMatch = m }
	}
	withCert := []*tlsv3.SdsSecretConfig{sds("default")}
	testErrors(t, func() L {
		return build.Listener("l", "127.0.0.1", 15001, corev3.TrafficDirection_OUTBOUND, build.HTTPManager("out", "routes"))
	}, config.CompileListener, []errCase[L]{
		{"no name", func(l L) { l.Name = "" }, []string{"listener without a name"}},
		{"host name address", func(l L) { l.Address = build.Address("localhost", 80) }, []string{`listener "l"`, `address: "localhost" is not an IP address`}},
		{"port out of range", func(l L) { l.Address = build.Address("127.0.0.1", 70000) }, []string{"port 70000 is out of range"}},
		{"UDP", func(l L) { l.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP }, []string{"protocol UDP is not supported"}},
		{"pipe address", func(l L) { l.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/s"}}} }, []string{"only socket addresses are supported"}},
		{"unknown listener filter", func(l L) {
			l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.proxy_protocol"}}
		},
			[]string{`listener filter "envoy.filters.listener.proxy_protocol" is not supported`}},
		{"no filter chains", func(l L) { l.FilterChains = nil }, []string{"no filter chains"}},
		{"two network filters", func(l L) { l.FilterChains[0].Filters = append(l.FilterChains[0].Filters, build.TCPProxy("x", "y")) },
			[]string{"filter_chains[0]", "only envoy.filters.network.rbac may come before"}},
		{"unknown network filter", filter(&listenerv3.Filter{Name: "envoy.filters.network.redis_proxy"}), []string{`network filter "envoy.filters.network.redis_proxy" is not supported`}},
		{"unknown http filter", filter(hcm(func(h *hcmv3.HttpConnectionManager) {
			h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.lua"}}, h.HttpFilters...)
		})), []string{`http filter "envoy.filters.http.lua" is not supported`}},
		{"rds without a name", filter(hcm(func(h *hcmv3.HttpConnectionManager) { h.GetRds().RouteConfigName = "" })), []string{"rds.route_config_name is required"}},
		{"no route specifier", filter(hcm(func(h *hcmv3.HttpConnectionManager) { h.RouteSpecifier = nil })), []string{"set rds or route_config"}},
		{"bad inline routes", filter(hcm(func(h *hcmv3.HttpConnectionManager) {
			h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: build.RouteConfig("inline", build.VirtualHost("vh", []string{"a.*.com"}))}
		})), []string{"http_connection_manager", "a wildcard may only stand at the start or the end"}},
		{"negative stream idle timeout", filter(hcm(func(h *hcmv3.HttpConnectionManager) { h.StreamIdleTimeout = build.Duration(-time.Second) })),
			[]string{"stream_idle_timeout: negative duration"}},
		{"tcp_proxy without cluster", filter(build.TCPProxy("db", "")), []string{"tcp_proxy: cluster is required"}},
		{"source ports match", chainMatch(&listenerv3.FilterChainMatch{SourcePorts: []uint32{80}}), []string{"filter_chain_match supports destination_port, server_names"}},
		{"bad server name", chainMatch(&listenerv3.FilterChainMatch{ServerNames: []string{"a..com"}}), []string{`server_names: "a..com" is not a server name`}},
		{"server name with a space", chainMatch(&listenerv3.FilterChainMatch{ServerNames: []string{"a b.com"}}), []string{`server_names: "a b.com" is not a server name`}},
		{"unknown transport protocol", chainMatch(&listenerv3.FilterChainMatch{TransportProtocol: "quic"}), []string{`transport_protocol "quic"`}},
		{"inline tls certificate", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{{}}}, false), []string{"inline tls_certificates are not supported"}},
		{"no server certificate", tlsCtx(&tlsv3.CommonTlsContext{}, false), []string{"a server certificate (tls_certificate_sds_secret_configs) is required"}},
		{"client certificate without validation", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: withCert}, true),
			[]string{"require_client_certificate needs a validation context"}},
		{"inline validation context", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: withCert,
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}}, false),
			[]string{"inline validation_context is not supported"}},
		{"upstream context on a listener", func(l L) { l.FilterChains[0].TransportSocket = tlsSocket(&tlsv3.UpstreamTlsContext{}) }, []string{"want a DownstreamTlsContext"}},
		{"client SAN exact SPIFFE ID", tlsCtx(clientTrustDomains(exactURI("spiffe://east.example/ns/shop/sa/web")), true),
			[]string{"match_typed_subject_alt_names[0]", `only URI SAN matchers with a prefix "spiffe://<trust domain>/" are supported`}},
		{"client SAN DNS", tlsCtx(clientTrustDomains(&tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: prefix("spiffe://east.example/")}), true),
			[]string{"SAN type DNS", `only URI SAN matchers with a prefix "spiffe://<trust domain>/"`}},
		{"client SAN prefix without the slash", tlsCtx(clientTrustDomains(prefixURI("spiffe://east.example")), true),
			[]string{`prefix "spiffe://east.example"`, "are supported"}},
		{"client SAN prefix of a path", tlsCtx(clientTrustDomains(prefixURI("spiffe://east.example/ns/")), true),
			[]string{`"east.example/ns" is not a trust domain name`}},
		{"client SAN prefix of another scheme", tlsCtx(clientTrustDomains(prefixURI("https://east.example/")), true),
			[]string{`prefix "https://east.example/"`}},
		{"client SAN prefix with a bad trust domain", tlsCtx(clientTrustDomains(prefixURI("spiffe://East.Example/")), true),
			[]string{`"East.Example" is not a trust domain name`}},
		{"client SAN prefix ignoring case", tlsCtx(clientTrustDomains(&tlsv3.SubjectAltNameMatcher{
			SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://east.example/"}, IgnoreCase: true},
		}), true), []string{"ignore_case is not supported"}},
		{"client SAN without a client certificate", tlsCtx(clientTrustDomains(prefixURI("spiffe://east.example/")), false),
			[]string{"match_typed_subject_alt_names needs require_client_certificate"}},
		{"default validation context with inline CAs", tlsCtx(func() *tlsv3.CommonTlsContext {
			c := clientTrustDomains(prefixURI("spiffe://east.example/"))
			c.GetCombinedValidationContext().DefaultValidationContext.TrustedCa = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "PEM"}}
			return c
		}(), true), []string{"default_validation_context: only match_typed_subject_alt_names is supported"}},
	})
}

// clientTrustDomains is a server's TLS context verifying clients against
// ROOTCA and the SAN matchers sans.
func clientTrustDomains(sans ...*tlsv3.SubjectAltNameMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default")},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: sds("ROOTCA"),
		}},
	}
}

func prefixURI(p string) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: prefix(p)}
}

func exactURI(s string) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: exact(s)}
}

func upstreamTLS(c *tlsv3.CommonTlsContext) *corev3.TransportSocket {
	return tlsSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: c, Sni: "web.prod.svc"})
}

func sanMatcher(typ tlsv3.SubjectAltNameMatcher_SanType, m *matcherv3.StringMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
		CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: typ, Matcher: m}}},
			ValidationContextSdsSecretConfig: sds("ROOTCA"),
		},
	}}
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func prefix(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
}

func TestCompileCluster(t *testing.T) {
	eds := func(edit func(*clusterv3.Cluster)) *clusterv3.Cluster {
		c := &clusterv3.Cluster{Name: "web", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}
		edit(c)
		return c
	}
	// want is the compiled "web" EDS cluster with every default, changed by edit.
	want := func(edit func(*config.Cluster)) *config.Cluster {
		c := &config.Cluster{Name: "web", EDSName: "web", LB: config.RoundRobin, ConnectTimeout: 5 * time.Second, IdleTimeout: time.Hour,
			Limits: config.Limits{MaxConnections: 1024, MaxPendingRequests: 1024, MaxRequests: 1024, MaxRetries: 3}}
		edit(c)
		return c
	}
	outlier := func(o config.OutlierDetection) func(*config.Cluster) {
		o.BaseEjectionTime, o.MaxEjectionTime = 30*time.Second, 300*time.Second
		return func(c *config.Cluster) { c.OutlierDetection = &o }
	}
	tests := []struct {
		name string
		in   *clusterv3.Cluster
		want *config.Cluster
	}{
		{"defaults", eds(func(*clusterv3.Cluster) {}), want(func(*config.Cluster) {})},
		{"built with options", func() *clusterv3.Cluster {
			c := build.Cluster(build.ClusterOptions{Name: "web", LB: clusterv3.Cluster_LEAST_REQUEST, ConnectTimeout: 2 * time.Second, HTTP2: true, Service: "web", Namespace: "prod", MeshCluster: "east"})
			c.EdsClusterConfig.ServiceName = "web-eds"
			return c
		}(), want(func(c *config.Cluster) {
			c.EDSName, c.LB, c.ConnectTimeout, c.Protocol = "web-eds", config.LeastRequest, 2*time.Second, config.HTTP2
			c.Service = config.Service{Name: "web", Namespace: "prod", Cluster: "east"}
		})},
		{"static, random", build.Cluster(build.ClusterOptions{Name: "web", LB: clusterv3.Cluster_RANDOM, Static: []*endpointv3.LocalityLbEndpoints{
			build.Endpoints(1, "z2", build.Address("10.0.0.2", 80)), build.Endpoints(0, "z1", build.Address("10.0.0.1", 80)),
		}}), want(func(c *config.Cluster) {
			c.EDSName, c.LB = "", config.Random
			c.Static = &config.Endpoints{ClusterName: "web", Localities: []config.Locality{
				{Zone: "z1", Endpoints: []config.Endpoint{{Address: "10.0.0.1:80", Weight: 1}}},
				{Zone: "z2", Priority: 1, Endpoints: []config.Endpoint{{Address: "10.0.0.2:80", Weight: 1}}},
			}}
		})},
		{"circuit breakers and retry budget", eds(func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
				{Priority: corev3.RoutingPriority_HIGH, MaxConnections: build.UInt32(1)}, // ignored
				{MaxConnections: build.UInt32(10), MaxRequests: build.UInt32(20), RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}},
			}}
		}), want(func(c *config.Cluster) {
			c.Limits = config.Limits{MaxConnections: 10, MaxPendingRequests: 1024, MaxRequests: 20, MaxRetries: 3, RetryBudgetPercent: 20, MinRetryConcurrency: 3}
		})},
		{"explicit retry budget", eds(func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRetries: build.UInt32(7), MaxPendingRequests: build.UInt32(5),
				RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{BudgetPercent: &typev3.Percent{Value: 50}, MinRetryConcurrency: build.UInt32(2)}}}}
		}), want(func(c *config.Cluster) {
			c.Limits = config.Limits{MaxConnections: 1024, MaxPendingRequests: 5, MaxRequests: 1024, MaxRetries: 7, RetryBudgetPercent: 50, MinRetryConcurrency: 2}
		})},
		{"outlier detection defaults", eds(func(c *clusterv3.Cluster) { c.OutlierDetection = &clusterv3.OutlierDetection{} }),
			want(outlier(config.OutlierDetection{Consecutive5xx: 5, Interval: 10 * time.Second, MaxEjectionPercent: 10}))},
		{"outlier detection of gateway errors only", eds(func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{EnforcingConsecutive_5Xx: build.UInt32(0), EnforcingConsecutiveGatewayFailure: build.UInt32(100),
				ConsecutiveGatewayFailure: build.UInt32(3), Interval: build.Duration(time.Second), MaxEjectionPercent: build.UInt32(100)}
		}), want(outlier(config.OutlierDetection{ConsecutiveGatewayErrors: 3, Interval: time.Second, MaxEjectionPercent: 100}))},
		{"upstream mTLS", eds(func(c *clusterv3.Cluster) {
			ctx := sanMatcher(tlsv3.SubjectAltNameMatcher_URI, exact(spiffeID))
			ctx.TlsCertificateSdsSecretConfigs, ctx.AlpnProtocols = []*tlsv3.SdsSecretConfig{sds("default")}, []string{"h2"}
			c.TransportSocket = upstreamTLS(ctx)
		}), want(func(c *config.Cluster) {
			c.TLS = &config.UpstreamTLS{CertificateSecret: "default", ValidationSecret: "ROOTCA", SPIFFEIDs: []string{spiffeID}, SNI: "web.prod.svc", ALPN: []string{"h2"}}
		})},
		{"downstream protocol and idle timeout", eds(func(c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions = map[string]*anypb.Any{config.HTTPProtocolOptionsKey: build.Any(&httpv3.HttpProtocolOptions{
				CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: build.Duration(30 * time.Second)},
				UpstreamProtocolOptions:   &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{}},
			})}
		}), want(func(c *config.Cluster) { c.IdleTimeout, c.Protocol = 30*time.Second, config.UseDownstream })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.CompileCluster(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			deepEqual(t, "cluster", got, tt.want)
		})
	}
}

func TestCompileClusterErrors(t *testing.T) {
	type C = *clusterv3.Cluster
	tlsCtx := func(c *tlsv3.CommonTlsContext) func(C) { return func(cl C) { cl.TransportSocket = upstreamTLS(c) } }
	discovery := func(d clusterv3.Cluster_DiscoveryType) func(C) {
		return func(c C) { c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: d} }
	}
	testErrors(t, func() C { return build.Cluster(build.ClusterOptions{Name: "web"}) }, config.CompileCluster, []errCase[C]{
		{"no name", func(c C) { c.Name = "" }, []string{"cluster without a name"}},
		{"DNS discovery", discovery(clusterv3.Cluster_STRICT_DNS), []string{`cluster "web"`, "discovery type STRICT_DNS is not supported"}},
		{"static without endpoints", discovery(clusterv3.Cluster_STATIC), []string{"a STATIC cluster needs load_assignment"}},
		{"static endpoint of weight 0", func(c C) {
			discovery(clusterv3.Cluster_STATIC)(c)
			c.LoadAssignment = build.LoadAssignment("web", build.Endpoints(0, "z", build.Address("10.0.0.1", 80)))
			c.LoadAssignment.Endpoints[0].LbEndpoints[0].LoadBalancingWeight = build.UInt32(0)
		}, []string{"load_balancing_weight must be at least 1"}},
		{"unsupported lb policy", func(c C) { c.LbPolicy = clusterv3.Cluster_RING_HASH }, []string{"lb_policy RING_HASH is not supported"}},
		{"zero connect timeout", func(c C) { c.ConnectTimeout = build.Duration(0) }, []string{"connect_timeout must be positive"}},
		{"negative connect timeout", func(c C) { c.ConnectTimeout = build.Duration(-time.Second) }, []string{"connect_timeout: negative duration"}},
		{"ejection percent over 100", func(c C) { c.OutlierDetection = &clusterv3.OutlierDetection{MaxEjectionPercent: build.UInt32(150)} },
			[]string{"outlier_detection: max_ejection_percent 150 is over 100"}},
		{"zero outlier interval", func(c C) { c.OutlierDetection = &clusterv3.OutlierDetection{Interval: build.Duration(0)} },
			[]string{"interval and base_ejection_time must be positive"}},
		{"upstream TLS without validation context", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default")}}),
			[]string{"upstream TLS needs a validation context"}},
		{"inline upstream certificate", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{{}}}), []string{"inline tls_certificates are not supported"}},
		{"two certificates", tlsCtx(&tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("a"), sds("b")}}),
			[]string{"at most one tls_certificate_sds_secret_config"}},
		{"DNS SAN", tlsCtx(sanMatcher(tlsv3.SubjectAltNameMatcher_DNS, exact("web"))), []string{"SAN matcher type DNS is not supported"}},
		{"prefix SAN", tlsCtx(sanMatcher(tlsv3.SubjectAltNameMatcher_URI, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://"}})),
			[]string{"SAN matchers must be exact SPIFFE IDs"}},
		{"downstream context on a cluster", func(c C) { c.TransportSocket = tlsSocket(&tlsv3.DownstreamTlsContext{}) }, []string{"want an UpstreamTlsContext"}},
	})
}

func TestCompileEndpoints(t *testing.T) {
	a := func(ip string) *corev3.Address { return build.Address(ip, 8080) }
	p2 := build.Endpoints(2, "far", a("10.0.2.1"))
	p0a := build.Endpoints(0, "near-a", a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3"), a("10.0.0.4"), a("10.0.0.5"))
	p0a.LbEndpoints[0].LoadBalancingWeight = build.UInt32(5)
	for i, h := range []corev3.HealthStatus{corev3.HealthStatus_DEGRADED, corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_DRAINING, corev3.HealthStatus_UNHEALTHY} {
		p0a.LbEndpoints[i+1].HealthStatus = h
	}
	p1 := build.Endpoints(1, "mid", a("10.0.1.1"))
	p1.LbEndpoints[0].HealthStatus = corev3.HealthStatus_TIMEOUT
	p0b := build.Endpoints(0, "near-b", a("10.0.0.9"))
	p0b.Locality.Region, p0b.Locality.SubZone = "eu", "rack1"

	got, err := config.CompileEndpoints(build.LoadAssignment("web", p2, p0a, p1, p0b))
	if err != nil {
		t.Fatal(err)
	}
	ep := func(ip string, w uint32, h config.HealthStatus) config.Endpoint {
		return config.Endpoint{Address: ip + ":8080", Weight: w, Health: h}
	}
	// Ordered by priority; localities of one priority keep their order.
	deepEqual(t, "endpoints", got, &config.Endpoints{ClusterName: "web", Localities: []config.Locality{
		{Zone: "near-a", Endpoints: []config.Endpoint{
			ep("10.0.0.1", 5, config.Healthy), ep("10.0.0.2", 1, config.Healthy), ep("10.0.0.3", 1, config.Healthy),
			ep("10.0.0.4", 1, config.Draining), ep("10.0.0.5", 1, config.Unhealthy),
		}},
		{Region: "eu", Zone: "near-b", SubZone: "rack1", Endpoints: []config.Endpoint{ep("10.0.0.9", 1, config.Healthy)}},
		{Zone: "mid", Priority: 1, Endpoints: []config.Endpoint{ep("10.0.1.1", 1, config.Unhealthy)}},
		{Zone: "far", Priority: 2, Endpoints: []config.Endpoint{ep("10.0.2.1", 1, config.Healthy)}},
	}})

	type E = *endpointv3.ClusterLoadAssignment
	second := func(e E) *endpointv3.LbEndpoint { return e.Endpoints[1].LbEndpoints[0] }
	testErrors(t, func() E {
		return build.LoadAssignment("web", build.Endpoints(0, "ok", a("10.0.0.2")), build.Endpoints(0, "z", a("10.0.0.1")))
	}, config.CompileEndpoints, []errCase[E]{
		{"no cluster name", func(e E) { e.ClusterName = "" }, []string{"without a cluster_name"}},
		{"host name", func(e E) { second(e).GetEndpoint().Address = build.Address("web.local", 80) },
			[]string{`endpoints "web": endpoints[1].lb_endpoints[0]`, `"web.local" is not an IP address`}},
		{"weight 0", func(e E) { second(e).LoadBalancingWeight = build.UInt32(0) }, []string{"endpoints[1].lb_endpoints[0]: load_balancing_weight must be at least 1"}},
	})
}

func hv(k, v string, a corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: a}
}

const (
	appendHdr = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	overwrite = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	ifAbsent  = corev3.HeaderValueOption_ADD_IF_ABSENT
)

func forward(a *routev3.RouteAction) *routev3.Route_Route { return &routev3.Route_Route{Route: a} }

func toCluster(c string) *routev3.RouteAction_Cluster {
	return &routev3.RouteAction_Cluster{Cluster: c}
}

func TestCompileRouteTable(t *testing.T) {
	sm := func(m *matcherv3.StringMatcher, ignoreCase bool) *routev3.HeaderMatcher_StringMatch {
		m.IgnoreCase = ignoreCase
		return &routev3.HeaderMatcher_StringMatch{StringMatch: m}
	}
	split := &routev3.Route{Name: "split",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/API/"}, CaseSensitive: wrapperspb.Bool(false),
			Headers: []*routev3.HeaderMatcher{
				{Name: ":Method", HeaderMatchSpecifier: sm(exact("GET"), false)},
				{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
				{Name: "x-debug", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}},
				{Name: "X-Env", InvertMatch: true, HeaderMatchSpecifier: sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "PR"}}, true)},
			},
			QueryParameters: []*routev3.QueryParameterMatcher{
				{Name: "v", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exact("1")}},
				{Name: "trace", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}},
			}},
		Action: forward(&routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: "a", Weight: build.UInt32(30), RequestHeadersToAdd: []*corev3.HeaderValueOption{hv("x-split", "a", overwrite)}},
				{Name: "b", Weight: build.UInt32(70), ResponseHeadersToRemove: []string{"X-Internal"}},
			}}},
			RetryPolicy: &routev3.RetryPolicy{RetryOn: "retriable-status-codes, unavailable", RetriableStatusCodes: []uint32{503}, PerTryTimeout: build.Duration(2 * time.Second)},
		})}
	segment := &routev3.Route{Name: "segment", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/v1"}},
		Action: forward(&routev3.RouteAction{ClusterSpecifier: toCluster("web"), Timeout: build.Duration(0), IdleTimeout: build.Duration(30 * time.Second),
			HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "backend.internal"},
			RegexRewrite:         &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: `^/v1/(\w+)/(\d+)$`}, Substitution: `/\2/\1\\$`},
		})}
	grpcRoute := &routev3.Route{Name: "grpc", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `/pkg\.Svc/[A-Za-z]+`}},
		Grpc: &routev3.RouteMatch_GrpcRouteMatchOptions{}}, Action: forward(&routev3.RouteAction{ClusterSpecifier: toCluster("grpc"), PrefixRewrite: "/ignored"})}
	redirect := &routev3.Route{Name: "redirect", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/Old"}, CaseSensitive: wrapperspb.Bool(false)},
		Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
			SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}, HostRedirect: "new.example.com", PortRedirect: 8443,
			PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/new"}, ResponseCode: routev3.RedirectAction_FOUND, StripQuery: true,
		}}}
	direct := &routev3.Route{Name: "direct", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/teapot"}},
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-tea", "earl grey", appendHdr)},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 418,
			Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("short and stout")}}}}}
	vh := build.VirtualHost("web", []string{"Web.Example.COM", "*.example.com", "web:8080"}, split, segment, grpcRoute, redirect, direct)
	vh.RequestHeadersToAdd = []*corev3.HeaderValueOption{hv("X-Append", "a", appendHdr), hv("x-over", "o", overwrite), hv("x-absent", "d", ifAbsent),
		{Header: &corev3.HeaderValue{Key: "x-raw", RawValue: []byte("raw")}}}
	vh.RequestHeadersToRemove = []string{"X-Drop"}
	vh.RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx", NumRetries: build.UInt32(3), RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: build.Duration(100 * time.Millisecond)}}

	rt, err := config.CompileRouteTable(build.RouteConfig("routes", vh, build.VirtualHost("fallback", []string{"*"}, build.RouteToCluster("all", "web", 3*time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	if rt.Name != "routes" || len(rt.VirtualHosts) != 2 || rt.VirtualHosts[1].Routes[0].Forward.Timeout != 3*time.Second {
		t.Fatalf("route table %+v", rt)
	}
	v := rt.VirtualHosts[0]
	deepEqual(t, "domains", v.Domains, []string{"web.example.com", "*.example.com", "web:8080"})
	deepEqual(t, "virtual host request headers", v.RequestHeaders, config.HeaderMutation{Add: []config.HeaderValue{
		{Name: "x-append", Value: "a", Action: config.HeaderAppend}, {Name: "x-over", Value: "o", Action: config.HeaderOverwrite},
		{Name: "x-absent", Value: "d", Action: config.HeaderAddIfAbsent}, {Name: "x-raw", Value: "raw", Action: config.HeaderAppend},
	}, Remove: []string{"x-drop"}})
	deepEqual(t, "virtual host retry", v.Retry, &config.RetryPolicy{On: config.Retry5xx, Attempts: 3, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})

	r := v.Routes[0]
	deepEqual(t, "split match", r.Match, config.RouteMatch{PathKind: config.PathPrefix, Path: "/api/", CaseInsensitive: true,
		Headers: []config.HeaderMatch{
			{Name: ":method", Match: config.StringMatch{Kind: config.MatchExact, Value: "GET"}},
			{Name: "x-user", Match: config.StringMatch{Kind: config.MatchPresent}},
			{Name: "x-debug", Match: config.StringMatch{Kind: config.MatchPresent}, Invert: true},
			{Name: "x-env", Match: config.StringMatch{Kind: config.MatchPrefix, Value: "pr", IgnoreCase: true}, Invert: true},
		},
		Query: []config.QueryMatch{{Name: "v", Match: config.StringMatch{Kind: config.MatchExact, Value: "1"}}, {Name: "trace", Match: config.StringMatch{Kind: config.MatchPresent}}},
	})
	deepEqual(t, "split forward", r.Forward, &config.Forward{
		Backends: []config.WeightedBackend{
			{Cluster: "a", Weight: 30, RequestHeaders: config.HeaderMutation{Add: []config.HeaderValue{{Name: "x-split", Value: "a", Action: config.HeaderOverwrite}}}},
			{Cluster: "b", Weight: 70, ResponseHeaders: config.HeaderMutation{Remove: []string{"x-internal"}}},
		},
		TotalWeight: 100, Timeout: 15 * time.Second,
		Retry: &config.RetryPolicy{On: config.RetryRetriableStatusCodes | config.RetryGRPCUnavailable, Attempts: 1, PerTryTimeout: 2 * time.Second,
			RetriableStatusCodes: []int{503}, BackoffBase: 25 * time.Millisecond, BackoffMax: 250 * time.Millisecond},
	})

	f := v.Routes[1].Forward
	if m := v.Routes[1].Match; m.PathKind != config.PathSegmentPrefix || m.Path != "/v1" {
		t.Fatalf("segment match %+v", m)
	}
	if f.Timeout != 0 || f.IdleTimeout != 30*time.Second || f.HostRewrite != "backend.internal" || f.PrefixRewrite != "" {
		t.Fatalf("segment forward %+v", f)
	}
	// The RE2 substitution `/\2/\1\\$` (groups, an escaped backslash, a
	// literal $) means the same once compiled for Go's regexp.
	if got := f.RegexRewrite.ReplaceAllString("/v1/users/42", f.RegexSubst); got != `/42/users\$` {
		t.Fatalf("regex rewrite of /v1/users/42 gave %q", got)
	}

	g := v.Routes[2].Match
	if g.PathKind != config.PathRegex || !g.GRPCOnly || g.Path != "" {
		t.Fatalf("grpc match %+v", g)
	}
	if !g.PathRegex.MatchString("/pkg.Svc/Get") || g.PathRegex.MatchString("/pkg.Svc/Get/x") {
		t.Fatalf("safe_regex %q must match the whole path", g.PathRegex)
	}
	deepEqual(t, "redirect", v.Routes[3].Redirect, &config.Redirect{Scheme: "https", Host: "new.example.com", Port: 8443, PrefixRewrite: "/new", Code: 302, StripQuery: true})
	if m := v.Routes[3].Match; m.PathKind != config.PathExact || m.Path != "/old" {
		t.Fatalf("case-insensitive exact match keeps path %q", m.Path)
	}
	deepEqual(t, "direct response", v.Routes[4].Direct, &config.DirectResponse{Status: 418, Body: "short and stout"})
	deepEqual(t, "direct response headers", v.Routes[4].ResponseHeaders, config.HeaderMutation{Add: []config.HeaderValue{{Name: "x-tea", Value: "earl grey"}}})
}

func TestCompileRouteTableErrors(t *testing.T) {
	type rc = routev3.RouteConfiguration
	vh := func(c *rc) *routev3.VirtualHost { return c.VirtualHosts[0] }
	route := func(c *rc) *routev3.Route { return c.VirtualHosts[0].Routes[0] }
	action := func(c *rc) *routev3.RouteAction { return c.VirtualHosts[0].Routes[0].GetRoute() }
	match := func(m *routev3.RouteMatch) func(*rc) { return func(c *rc) { route(c).Match = m } }
	safeRegex := func(re string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
	}
	headerMatch := func(h *routev3.HeaderMatcher) func(*rc) {
		return func(c *rc) { route(c).Match.Headers = []*routev3.HeaderMatcher{h} }
	}
	weights := func(ws ...uint32) func(*rc) {
		return func(c *rc) {
			wc := &routev3.WeightedCluster{}
			for i, w := range ws {
				wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: string(rune('a' + i)), Weight: build.UInt32(w)})
			}
			action(c).ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
		}
	}
	retry := func(p *routev3.RetryPolicy) func(*rc) { return func(c *rc) { action(c).RetryPolicy = p } }
	regexRewrite := func(pattern, subst string) func(*rc) {
		return func(c *rc) {
			action(c).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: pattern}, Substitution: subst}
		}
	}
	direct := func(d *routev3.DirectResponseAction) func(*rc) {
		return func(c *rc) { route(c).Action = &routev3.Route_DirectResponse{DirectResponse: d} }
	}
	redirect := func(r *routev3.RedirectAction) func(*rc) {
		return func(c *rc) { route(c).Action = &routev3.Route_Redirect{Redirect: r} }
	}
	testErrors(t, func() *rc {
		return build.RouteConfig("rc", build.VirtualHost("vh", []string{"example.com"}, build.RouteToCluster("r", "web", time.Second)))
	}, config.CompileRouteTable, []errCase[*rc]{
		{"bad path regex", match(safeRegex("(unclosed")), []string{`virtual_hosts[0] "vh": routes[0] "r": match: safe_regex: regex "(unclosed" does not compile`}},
		{"regex too long", match(safeRegex(strings.Repeat("a", 1025))), []string{"over the 1024 byte limit"}},
		{"bad header regex", headerMatch(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "[z-a]"}}}}}), []string{`headers[0] "x"`, "does not compile"}},
		{"ignore_case on a regex", headerMatch(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			IgnoreCase: true, MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "Foo.*"}}}}}), []string{"ignore_case has no effect on safe_regex"}},
		{"range header match", headerMatch(&routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{}}}), []string{"is not supported"}},
		{"empty header name", headerMatch(&routev3.HeaderMatcher{}), []string{"header name is required"}},
		{"query without a match", func(c *rc) { route(c).Match.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "q"}} }, []string{`query_parameters[0] "q": set string_match or present_match`}},
		{"no path match", match(&routev3.RouteMatch{}), []string{"a path match (prefix, path, path_separated_prefix or safe_regex) is required"}},
		{"path_separated_prefix ending in /", match(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api/"}}), []string{`path_separated_prefix "/api/" must not end in '/'`}},
		{"weights adding to 0", weights(0, 0), []string{"the weights of weighted_clusters add up to 0"}},
		{"weighted cluster without a name", func(c *rc) {
			weights(1)(c)
			action(c).GetWeightedClusters().Clusters[0].Name = ""
		}, []string{"weighted_clusters.clusters[0]: name is required"}},
		{"empty cluster", func(c *rc) { action(c).ClusterSpecifier = toCluster("") }, []string{"route.cluster is empty"}},
		{"no cluster", func(c *rc) { action(c).ClusterSpecifier = nil }, []string{"route needs cluster or weighted_clusters"}},
		{"no action", func(c *rc) { route(c).Action = nil }, []string{"action must be route, redirect or direct_response"}},
		{"duplicate domain across virtual hosts", func(c *rc) {
			c.VirtualHosts = append(c.VirtualHosts, build.VirtualHost("other", []string{"a.org", "EXAMPLE.com"}))
		}, []string{`domain "example.com" is in both virtual hosts "vh" and "other"`}},
		{"wildcard in the middle", func(c *rc) { vh(c).Domains = []string{"api.*.example.com"} }, []string{`domain "api.*.example.com": a wildcard may only stand at the start or the end`}},
		{"two wildcards", func(c *rc) { vh(c).Domains = []string{"*.example.*"} }, []string{"a wildcard may only stand"}},
		{"no domains", func(c *rc) { vh(c).Domains = nil }, []string{"no domains"}},
		{"host header added", func(c *rc) { vh(c).RequestHeadersToAdd = []*corev3.HeaderValueOption{hv("Host", "evil", overwrite)} }, []string{`header "host" cannot be added or removed by a route`}},
		{":path removed", func(c *rc) { route(c).RequestHeadersToRemove = []string{":path"} }, []string{`header ":path" cannot be added or removed`}},
		{"content-length in a backend", func(c *rc) {
			weights(1)(c)
			action(c).GetWeightedClusters().Clusters[0].ResponseHeadersToAdd = []*corev3.HeaderValueOption{hv("Content-Length", "0", overwrite)}
		}, []string{`header "content-length" cannot be added or removed`}},
		{"header name not a token", func(c *rc) { route(c).ResponseHeadersToAdd = []*corev3.HeaderValueOption{hv("x bad", "v", overwrite)} }, []string{`header name "x bad" is not a valid HTTP token`}},
		{"unknown retry_on", retry(&routev3.RetryPolicy{RetryOn: "5xx,sometimes"}), []string{`retry_policy: unknown retry condition "sometimes"`}},
		{"retriable status not HTTP", retry(&routev3.RetryPolicy{RetryOn: "retriable-status-codes", RetriableStatusCodes: []uint32{99}}), []string{"retriable status code 99 is not an HTTP status"}},
		{"backoff max under base", retry(&routev3.RetryPolicy{RetryOn: "5xx", RetryBackOff: &routev3.RetryPolicy_RetryBackOff{
			BaseInterval: build.Duration(time.Second), MaxInterval: build.Duration(time.Millisecond)}}), []string{"max_interval is shorter than base_interval"}},
		{"virtual host retry_on", func(c *rc) { vh(c).RetryPolicy = &routev3.RetryPolicy{RetryOn: "5XX"} }, []string{`retry_policy: unknown retry condition "5XX"`}},
		{"negative timeout", func(c *rc) { action(c).Timeout = build.Duration(-time.Second) }, []string{"timeout: negative duration"}},
		{"prefix and regex rewrite", func(c *rc) { action(c).PrefixRewrite = "/x"; regexRewrite("^/a", "/b")(c) }, []string{"set prefix_rewrite or regex_rewrite, not both"}},
		{"bad rewrite regex", regexRewrite("(", ""), []string{"regex_rewrite"}},
		{"rewrite to a missing group", regexRewrite("^/(a)", `/\2`), []string{"refers to group 2, but the pattern has 1"}},
		{"rewrite with a stray backslash", regexRewrite("^/(a)", `/\x`), []string{"a backslash must be followed by a digit"}},
		{"direct_response status 600", direct(&routev3.DirectResponseAction{Status: 600}), []string{"direct_response status 600 must be 200-599"}},
		{"direct_response status 199", direct(&routev3.DirectResponseAction{Status: 199}), []string{"direct_response status 199 must be 200-599"}},
		{"direct_response body from a file", direct(&routev3.DirectResponseAction{Status: 200, Body: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/passwd"}}}),
			[]string{"direct_response body must be inline"}},
		{"redirect with regex rewrite", redirect(&routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_RegexRewrite{RegexRewrite: &matcherv3.RegexMatchAndSubstitute{}}}),
			[]string{"regex_rewrite in redirects is not supported"}},
		{"redirect port out of range", redirect(&routev3.RedirectAction{PortRedirect: 70000}), []string{"port_redirect 70000 is out of range"}},
	}, `route configuration "rc"`)
}
