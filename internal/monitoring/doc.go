// Package monitoring builds the monitoring a Mesh installs: the
// ServiceMonitor and PodMonitor that make a prometheus-operator Prometheus
// scrape the control plane and every proxy, the PrometheusRule with the
// recording rules and alerts, and the Grafana dashboards. Everything is a
// pure function of Options, so the operator, the static manifests in
// config/prometheus and config/grafana, and the tests render the same
// objects. Metric names come from internal/telemetry.
package monitoring
