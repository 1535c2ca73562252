// Package dashboard serves the mesh dashboard and the control plane's
// read API: the web UI (assets embedded in the binary) and the JSON that
// feeds it and plexctl: the topology of services with golden signals on
// every edge, each service's details, connected proxies and their
// configuration, and checks of common misconfigurations. Signals come from
// Prometheus when the control plane has one, or from the proxies' own
// metrics, which it then scrapes itself.
package dashboard
