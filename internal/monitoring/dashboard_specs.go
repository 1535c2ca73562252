package monitoring

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Matchers every panel filters on.
const (
	// gatewayPods are the east-west gateways' series (their pods are named
	// after the Deployment).
	gatewayPods  = `job="` + JobProxy + `",pod=~"plexus-east-west-gateway.*"`
	inCluster    = `cluster=~"$cluster"`
	inService    = `destination_namespace=~"$namespace",destination_service=~"$service"`
	fromWorkload = `source_namespace=~"$namespace",source_workload=~"$workload"`
	rateRange    = "[$__rate_interval]"
)

// m is a selector of metric on the dashboard's clusters, with more
// matchers.
func m(metric string, matchers ...string) string {
	return sel(metric, append([]string{inCluster}, matchers...)...)
}

// rate sums the per-second rate of a counter by labels ("" for a total).
func rate(labels, metric string, matchers ...string) string {
	return fmt.Sprintf("sum%s (rate(%s%s))", byClause(labels), m(metric, matchers...), rateRange)
}

func byClause(labels string) string {
	if labels == "" {
		return ""
	}
	return " by (" + labels + ")"
}

// orZero makes an event counter's panel show 0, not "no data", for every
// series of base when nothing happened: the proxies create an event's
// series only when it first happens.
func orZero(expr, base string) string {
	return expr + "\nor\n0 * " + base
}

// p is a latency quantile by labels from the raw histogram.
func p(q float64, labels string, matchers ...string) string {
	l := "le"
	if labels != "" {
		l = labels + ", le"
	}
	return fmt.Sprintf("histogram_quantile(%g, sum by (%s) (rate(%s%s)))", q, l, m(telemetry.RequestDuration.Name+"_bucket", matchers...), rateRange)
}

// burnRate is how many times faster than allowed a service spends the
// budget of objective slo, from a ratio recorded per SLO window.
func burnRate(ratio, slo string) string {
	return fmt.Sprintf("%s\n/ on (%s)\n%s", m(ratio, inService), by(bySLO), m(SLOErrorBudget, `slo="`+slo+`"`, inService))
}

func ratioOf(num, den string) string { return "(" + num + ")\n/\n(" + den + ")" }

var (
	svcRequests = func(labels string, matchers ...string) string {
		return fmt.Sprintf("sum%s (%s)", byClause(labels), m(ServiceRequests, matchers...))
	}
	svcErrors = func(labels string, matchers ...string) string {
		return fmt.Sprintf("sum%s (%s)", byClause(labels), m(ServiceErrors, matchers...))
	}
	edgeRequests = func(labels string, matchers ...string) string {
		return fmt.Sprintf("sum%s (%s)", byClause(labels), m(EdgeRequests, matchers...))
	}
	edgeErrors = func(labels string, matchers ...string) string {
		return fmt.Sprintf("sum%s (%s)", byClause(labels), m(EdgeErrors, matchers...))
	}
	dest   = "destination_namespace, destination_service"
	svcVar = []variable{
		{"namespace", "Namespace", `label_values(` + ServiceRequests + `{cluster=~"$cluster"}, destination_namespace)`},
		{"service", "Service", `label_values(` + ServiceRequests + `{cluster=~"$cluster",destination_namespace=~"$namespace"}, destination_service)`},
	}
)

func dashboardSpecs() []dashboardSpec {
	return []dashboardSpec{overview(), service(), workload(), edges(), controlPlane(), multiCluster()}
}

func overview() dashboardSpec {
	return dashboardSpec{
		uid: "plexus-mesh-overview", title: "Plexus / Mesh overview",
		description: "Traffic, errors and latency of every service in the mesh, as their callers see them.",
		rows: []row{
			{title: "Mesh", panels: []panel{
				{kind: singleStat, title: "Requests", unit: "reqps", description: "Requests per second between all services.",
					queries: []query{{svcRequests("", outbound), "requests/s"}}},
				{kind: singleStat, title: "Success rate", unit: "percentunit", description: "Share of requests that did not fail with a 5xx or a gRPC server error.",
					queries: []query{{"1 - " + ratioOf(svcErrors("", outbound), svcRequests("", outbound)), "success"}}},
				{kind: singleStat, title: "p99 latency", unit: "s", description: "99th percentile request latency across the mesh.",
					queries: []query{{p(0.99, "", outbound), "p99"}}},
				{kind: singleStat, title: "Connected proxies", unit: "short", description: "Proxies holding an xDS stream to a control plane.",
					queries: []query{{"sum (" + m(telemetry.XDSConnectedProxies.Name) + ")", "proxies"}}},
			}},
			{title: "Services", panels: []panel{
				{title: "Requests by service", unit: "reqps", queries: []query{{svcRequests(dest, outbound), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "Error rate by service", unit: "percentunit", queries: []query{{ratioOf(svcErrors(dest, outbound), svcRequests(dest, outbound)), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "p99 latency by service", unit: "s", queries: []query{{p(0.99, dest, outbound), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "Plaintext inbound connections", unit: "cps",
					description: "Connections proxies accepted without mTLS (PERMISSIVE mode only). When this stays at 0, STRICT is safe.",
					queries:     []query{{orZero(rate("", telemetry.InboundConnections.Name, `mtls="false"`), rate("", telemetry.InboundConnections.Name)), "plaintext"}}},
			}},
		},
	}
}

func service() dashboardSpec {
	inSvc := []string{inService}
	cb := "sum by (destination_service, limit) (rate(" + m(telemetry.CircuitBreakerOverflows.Name, inService) + rateRange + "))"
	return dashboardSpec{
		uid: "plexus-service", title: "Plexus / Service",
		description: "Golden signals of a service from its callers' side (outbound) and its own proxies' side (inbound), its callers, and resilience events.",
		variables:   svcVar,
		rows: []row{
			{title: "Golden signals", panels: []panel{
				{title: "Requests", unit: "reqps", description: "outbound: as callers sent them; inbound: as the service's proxies received them.",
					queries: []query{{svcRequests("direction", inSvc...), "{{direction}}"}}},
				{title: "Error rate", unit: "percentunit",
					queries: []query{{ratioOf(svcErrors("direction", inSvc...), svcRequests("direction", inSvc...)), "{{direction}}"}}},
				{title: "Latency", unit: "s", queries: []query{
					{p(0.5, "direction", inService), "p50 {{direction}}"},
					{p(0.99, "direction", inService), "p99 {{direction}}"},
				}},
				{title: "Responses by code", unit: "reqps",
					queries: []query{{rate("response_code, grpc_status", telemetry.RequestsTotal.Name, inService, `direction="inbound"`), "{{response_code}} {{grpc_status}}"}}},
			}},
			{title: "Callers", panels: []panel{
				{title: "Requests by caller", unit: "reqps", queries: []query{{edgeRequests("source_cluster, source_namespace, source_workload", inService), "{{source_workload}}.{{source_namespace}} ({{source_cluster}})"}}},
				{title: "Error rate by caller", unit: "percentunit", queries: []query{{
					ratioOf(edgeErrors("source_namespace, source_workload", inService), edgeRequests("source_namespace, source_workload", inService)),
					"{{source_workload}}.{{source_namespace}}"}}},
			}},
			{title: "Objectives", panels: []panel{
				{title: "Error budget burn rate", unit: "short",
					description: "How fast the service spends its availability error budget: 1 spends exactly the budget over 30 days; the fast-burn alert fires at 14.4 over 1h.",
					queries: []query{
						{burnRate(SLOErrorRatio("1h"), "availability"), "1h {{destination_service}}"},
					}},
				{title: "Latency budget burn rate", unit: "short",
					description: "How fast the service spends its latency error budget (requests slower than the threshold).",
					queries: []query{
						{burnRate(SLOSlowRatio("1h"), "latency"), "1h {{destination_service}}"},
					}},
			}},
			{title: "Resilience", panels: []panel{
				{title: "Retries", unit: "reqps", queries: []query{{
					orZero(rate("destination_service, reason", telemetry.UpstreamRetries.Name, inService), svcRequests("destination_service", outbound, inService)), "{{reason}}"}}},
				{title: "Timeouts", unit: "reqps", queries: []query{{
					orZero(rate("destination_service, reason", telemetry.UpstreamTimeouts.Name, inService), svcRequests("destination_service", outbound, inService)), "{{reason}}"}}},
				{title: "Circuit breaker overflows", unit: "reqps", queries: []query{{orZero(cb, svcRequests("destination_service", outbound, inService)), "{{limit}}"}}},
				{title: "Outlier ejections", unit: "short", queries: []query{{
					orZero(fmt.Sprintf("sum by (destination_service) (increase(%s%s))", m(telemetry.OutlierEjections.Name, inService), rateRange),
						svcRequests("destination_service", outbound, inService)), "ejections"}}},
			}},
		},
	}
}

func workload() dashboardSpec {
	wl := []string{fromWorkload}
	return dashboardSpec{
		uid: "plexus-workload", title: "Plexus / Workload",
		description: "What one workload's proxy sees of the services it calls, and the proxy's own health.",
		variables: []variable{
			{"namespace", "Namespace", `label_values(` + EdgeRequests + `{cluster=~"$cluster"}, source_namespace)`},
			{"workload", "Workload", `label_values(` + EdgeRequests + `{cluster=~"$cluster",source_namespace=~"$namespace"}, source_workload)`},
		},
		rows: []row{
			{title: "Outbound", panels: []panel{
				{title: "Requests by destination", unit: "reqps", queries: []query{{edgeRequests(dest, wl...), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "Error rate by destination", unit: "percentunit", queries: []query{{ratioOf(edgeErrors(dest, wl...), edgeRequests(dest, wl...)), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "p99 latency by destination", unit: "s", queries: []query{{
					p(0.99, dest, outbound, fromWorkload), "{{destination_service}}.{{destination_namespace}}"}}},
				{title: "Local replies", unit: "reqps", description: "Responses the proxies made themselves: no route, no healthy upstream, denied by policy...",
					queries: []query{{orZero(rate("reason", telemetry.LocalReplies.Name, `namespace=~"$namespace"`), "sum ("+m(telemetry.ProxyXDSConnected.Name, `namespace=~"$namespace"`)+")"), "{{reason}}"}}},
			}},
			{title: "Proxies", panels: []panel{
				{title: "Connected to the control plane", unit: "short", queries: []query{{
					fmt.Sprintf("sum by (pod) (%s)", m(telemetry.ProxyXDSConnected.Name, `namespace=~"$namespace"`)), "{{pod}}"}}},
				{title: "Configuration updates", unit: "short", queries: []query{{
					fmt.Sprintf("sum by (type, result) (increase(%s%s))", m(telemetry.ProxyConfigUpdates.Name, `namespace=~"$namespace"`), rateRange), "{{type}} {{result}}"}}},
				{title: "Certificate time left", unit: "s", queries: []query{{
					fmt.Sprintf("min by (pod) (%s - time())", m(telemetry.ProxyCertificateExpiry.Name, `namespace=~"$namespace"`)), "{{pod}}"}}},
				{title: "Proxy memory", unit: "bytes", queries: []query{{
					fmt.Sprintf("sum by (pod) (%s)", m("process_resident_memory_bytes", `job="`+JobProxy+`"`, `namespace=~"$namespace"`)), "{{pod}}"}}},
				{title: "Proxy CPU", unit: "percentunit", queries: []query{{
					rate("pod", "process_cpu_seconds_total", `job="`+JobProxy+`"`, `namespace=~"$namespace"`), "{{pod}}"}}},
			}},
		},
	}
}

func edges() dashboardSpec {
	e := "source_cluster, source_namespace, source_workload, destination_cluster, destination_namespace, destination_service"
	legend := "{{source_workload}}.{{source_namespace}} → {{destination_service}}.{{destination_namespace}}"
	tcp := func(metric string) string {
		return orZero(rate(e, metric, outbound), edgeRequests(e)+" * 0")
	}
	return dashboardSpec{
		uid: "plexus-topology", title: "Plexus / Topology edges",
		description: "Every caller-to-service edge of the mesh with its traffic, errors and latency, from the caller's side.",
		rows: []row{
			{title: "Edges", panels: []panel{
				{kind: tableOf, title: "Edges", description: "Request rate, error rate and p99 latency of each edge over the last window.", queries: []query{
					{edgeRequests(e), "requests/s"},
					{ratioOf(edgeErrors(e), edgeRequests(e)), "error rate"},
					{fmt.Sprintf("max by (%s) (%s)", e, m(EdgeP99)), "p99"},
				}},
				{title: "Requests by edge", unit: "reqps", queries: []query{{edgeRequests(e), legend}}},
				{title: "Error rate by edge", unit: "percentunit", queries: []query{{ratioOf(edgeErrors(e), edgeRequests(e)), legend}}},
				{title: "p99 latency by edge", unit: "s", queries: []query{{fmt.Sprintf("max by (%s) (%s)", e, m(EdgeP99)), legend}}},
				{title: "TCP bytes sent by edge", unit: "Bps", description: "Opaque TCP traffic (not HTTP or gRPC) from callers to services.",
					queries: []query{{tcp(telemetry.TCPSentBytes.Name), legend}}},
				{title: "TCP bytes received by edge", unit: "Bps", queries: []query{{tcp(telemetry.TCPReceivedBytes.Name), legend}}},
			}},
		},
	}
}

func controlPlane() dashboardSpec {
	cp := `job="` + JobControlPlane + `"`
	return dashboardSpec{
		uid: "plexus-control-plane", title: "Plexus / Control plane",
		description: "The operator: xDS pushes to proxies, refused configuration, certificates, and the process itself.",
		rows: []row{
			{title: "xDS", panels: []panel{
				{title: "Connected proxies", unit: "short", queries: []query{{fmt.Sprintf("sum by (cluster, pod) (%s)", m(telemetry.XDSConnectedProxies.Name)), "{{cluster}} {{pod}}"}}},
				{title: "Push latency", unit: "s", description: "From a configuration change to every proxy's snapshot being ready.", queries: []query{
					{fmt.Sprintf("histogram_quantile(0.99, sum by (cluster, le) (rate(%s%s)))", m(telemetry.XDSPushDuration.Name+"_bucket"), rateRange), "p99 {{cluster}}"},
					{fmt.Sprintf("histogram_quantile(0.5, sum by (cluster, le) (rate(%s%s)))", m(telemetry.XDSPushDuration.Name+"_bucket"), rateRange), "p50 {{cluster}}"},
				}},
				{title: "Push size per proxy", unit: "bytes", queries: []query{{
					fmt.Sprintf("histogram_quantile(0.99, sum by (cluster, le) (rate(%s%s)))", m(telemetry.XDSPushSize.Name+"_bucket"), rateRange), "p99 {{cluster}}"}}},
				{title: "Refused updates (NACKs)", unit: "short", queries: []query{{
					orZero(fmt.Sprintf("sum by (cluster, type) (increase(%s%s))", m(telemetry.XDSNACKs.Name), rateRange), `sum by (cluster) (0 * `+m(telemetry.XDSConnectedProxies.Name)+`)`), "{{cluster}} {{type}}"}}},
			}},
			{title: "Certificates", panels: []panel{
				{title: "Certificate requests", unit: "reqps", queries: []query{{
					orZero(rate("cluster, result", telemetry.CertificatesIssued.Name), `sum by (cluster) (0 * `+m(telemetry.XDSConnectedProxies.Name)+`)`), "{{cluster}} {{result}}"}}},
				{title: "CA certificate time left", unit: "s", queries: []query{{fmt.Sprintf("min by (cluster) (%s - time())", m(telemetry.CARootExpiry.Name)), "{{cluster}}"}}},
			}},
			{title: "Process", panels: []panel{
				{title: "Up", unit: "short", queries: []query{{fmt.Sprintf("sum by (cluster) (%s)", m("up", cp)), "{{cluster}}"}}},
				{title: "Memory", unit: "bytes", queries: []query{{fmt.Sprintf("sum by (cluster, pod) (%s)", m("process_resident_memory_bytes", cp)), "{{cluster}} {{pod}}"}}},
				{title: "CPU", unit: "percentunit", queries: []query{{rate("cluster, pod", "process_cpu_seconds_total", cp), "{{cluster}} {{pod}}"}}},
			}},
		},
	}
}

func multiCluster() dashboardSpec {
	pair := "source_cluster, destination_cluster"
	legend := "{{source_cluster}} → {{destination_cluster}}"
	return dashboardSpec{
		uid: "plexus-multi-cluster", title: "Plexus / Multi-cluster",
		description: "Traffic between clusters and the health of each cluster's control plane.",
		rows: []row{
			{title: "Between clusters", panels: []panel{
				{title: "Requests by cluster pair", unit: "reqps", queries: []query{{edgeRequests(pair), legend}}},
				{title: "Error rate by cluster pair", unit: "percentunit", queries: []query{{ratioOf(edgeErrors(pair), edgeRequests(pair)), legend}}},
				{title: "p99 latency by cluster pair", unit: "s", queries: []query{{p(0.99, pair, outbound), legend}}},
			}},
			{title: "Clusters", panels: []panel{
				{title: "Control planes up", unit: "short", queries: []query{{fmt.Sprintf("sum by (cluster) (%s)", m("up", `job="`+JobControlPlane+`"`)), "{{cluster}}"}}},
				{title: "Connected proxies", unit: "short", queries: []query{{fmt.Sprintf("sum by (cluster) (%s)", m(telemetry.XDSConnectedProxies.Name)), "{{cluster}}"}}},
				{title: "Requests served", unit: "reqps", queries: []query{{svcRequests("cluster", `direction="inbound"`), "{{cluster}}"}}},
			}},
			{title: "East-west gateways", panels: []panel{
				{title: "Gateway throughput", unit: "Bps", description: "Bytes the east-west gateways carry to exported services for peers, still encrypted.",
					queries: []query{{orZero(fmt.Sprintf("sum by (cluster, destination_service) (rate(%s%s))", m(telemetry.TCPSentBytes.Name, gatewayPods), rateRange),
						"sum by (cluster) ("+m(telemetry.XDSConnectedProxies.Name)+")"), "{{cluster}} {{destination_service}}"}}},
				{title: "Gateway connections", unit: "cps",
					queries: []query{{orZero(rate("cluster, destination_service", telemetry.TCPConnectionsOpened.Name, gatewayPods),
						"sum by (cluster) ("+m(telemetry.XDSConnectedProxies.Name)+")"), "{{cluster}} {{destination_service}}"}}},
			}},
			{title: "Federation", panels: []panel{
				{title: "Peers connected", unit: "short", description: "1 while a cluster's federation stream to a peer is up; 0 without peers.",
					queries: []query{{orZero(fmt.Sprintf("sum by (cluster, peer) (%s)", m(telemetry.FederationPeerConnected.Name)),
						"sum by (cluster) ("+m(telemetry.XDSConnectedProxies.Name)+")"), "{{cluster}} → {{peer}}"}}},
				{title: "Federation sync lag", unit: "s", description: "Time since each peer's export set last arrived; peers re-send it every 30s.",
					queries: []query{{orZero(fmt.Sprintf("max by (cluster, peer) (time() - (%s > 0))", m(telemetry.FederationLastSync.Name)),
						"sum by (cluster) ("+m(telemetry.XDSConnectedProxies.Name)+")"), "{{cluster}} ← {{peer}}"}}},
				{title: "Imported services by peer", unit: "short",
					queries: []query{{orZero(fmt.Sprintf("sum by (cluster, peer) (%s)", m(telemetry.FederationImportedServices.Name)),
						"sum by (cluster) ("+m(telemetry.XDSConnectedProxies.Name)+")"), "{{cluster}} ← {{peer}}"}}},
			}},
		},
	}
}

// Queries returns every panel query of a dashboard JSON, for tests and
// tools that check dashboards against a Prometheus.
func Queries(dashboardJSON []byte) ([]string, error) {
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) != "" {
				out = append(out, t.Expr)
			}
		}
	}
	return out, nil
}
