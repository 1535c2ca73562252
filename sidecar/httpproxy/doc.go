// Package httpproxy is the proxy's HTTP engine: it matches a request to a
// virtual host and route, then answers directly, redirects, or forwards it
// to a cluster with the route's header changes, rewrites, timeouts and
// retries. HTTP/1.1, HTTP/2 and gRPC (with trailers) and upgrades such as
// WebSocket pass through. Replies the proxy makes itself carry the reason in
// the x-plexus-local-reply header and are counted.
package httpproxy
