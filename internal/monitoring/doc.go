// Package monitoring builds the ServiceMonitors, PodMonitors,
// PrometheusRules and Grafana dashboards the operator installs for a Mesh.
package monitoring
