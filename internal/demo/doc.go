// Package demo runs a two-cluster Plexus mesh on one machine, with no
// Kubernetes and no privileges: plexctl demo and make demo. Two local-mode
// control planes (east and west), their east-west gateways, sidecars
// without interception on loopback addresses of their own, a sample
// application (a web frontend calling reviews over HTTP, with a canary
// and a TrafficPolicy, and ratings over gRPC, exported from west), a
// traffic generator, and Prometheus and Alertmanager when they can be
// found. Everything stops, and nothing is left running, when the context
// ends.
package demo
