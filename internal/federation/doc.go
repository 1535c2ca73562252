// Package federation joins a cluster's mesh to its peers' (DESIGN.md
// decision 6): it serves this cluster's exports over the federation gRPC
// API, watches each peer's, turns them into model imports, and exchanges
// trust bundles with SPIFFE federation (https_spiffe profile). Operators
// authenticate each other with mTLS and SPIFFE IDs; none holds another
// cluster's Kubernetes credentials.
package federation
