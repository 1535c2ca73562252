// Package federation shares service exports and SPIFFE trust bundles
// between peer clusters: the federation gRPC server that streams this
// cluster's exports, the client that imports a peer's, and bundle refresh.
package federation
