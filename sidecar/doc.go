// Package sidecar is the data-plane proxy that runs beside every workload:
// listeners and interception, HTTP and TCP handling, upstream pools, load
// balancing, retries, timeouts, circuit breaking, mTLS, metrics, and the xDS
// client that configures all of it. It never imports controller-runtime.
package sidecar
