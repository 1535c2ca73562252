// Package model is the provider-agnostic mesh model: services, endpoints,
// routes, traffic and authorization policies, and mesh settings, as plain
// structs with deterministic ordering. Kubernetes and local mode both build
// it; internal/xds translates it. It does no I/O.
package model
