// Package e2e holds end-to-end tests that run Plexus as separate processes
// (control planes, sidecars, gateways, sample workloads) on one machine,
// over real sockets on 127.0.0.0/8, including multi-cluster scenarios.
package e2e
