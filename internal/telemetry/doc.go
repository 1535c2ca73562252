// Package telemetry defines every metric name and label that the proxy and
// the control plane publish. Rules, dashboards and the UI refer to these
// names and to no others.
package telemetry
