package httpproxy

import (
	"fmt"
	"net/http"
	"strconv"
)

// LocalReplyHeader carries the reason of every response the proxy makes
// itself, so a caller can tell a proxy's 503 from the application's.
const LocalReplyHeader = "x-plexus-local-reply"

// Local reply reasons.
const (
	ReasonNoRouteConfig     = "no_route_config"
	ReasonNoRoute           = "no_route"
	ReasonNoCluster         = "no_cluster"
	ReasonNoHealthyUpstream = "no_healthy_upstream"
	ReasonConnectFailure    = "upstream_connect_failure"
	ReasonUpstreamReset     = "upstream_reset"
	ReasonRequestTimeout    = "request_timeout"
	ReasonPerTryTimeout     = "per_try_timeout"
	ReasonOverflowPrefix    = "overflow_"
	ReasonDirectResponse    = "direct_response"
	ReasonRedirect          = "redirect"
	ReasonRBACDenied        = "rbac_access_denied"
)

// localError is a failure the proxy answers itself.
type localError struct {
	status int
	reason string
	detail string
}

func (e *localError) Error() string { return e.reason + ": " + e.detail }

// grpcCodes maps local reply statuses to gRPC codes (the gRPC HTTP mapping).
var grpcCodes = map[int]int{
	http.StatusBadRequest:          13, // INTERNAL
	http.StatusForbidden:           7,  // PERMISSION_DENIED
	http.StatusNotFound:            12, // UNIMPLEMENTED
	http.StatusTooManyRequests:     14, // UNAVAILABLE
	http.StatusBadGateway:          14,
	http.StatusServiceUnavailable:  14,
	http.StatusGatewayTimeout:      4, // DEADLINE_EXCEEDED
	http.StatusInternalServerError: 13,
}

// writeLocalReply answers a request the proxy could not or would not
// forward. gRPC callers get a trailers-only response with grpc-status, as
// they expect; others get the HTTP status and a one-line body.
func writeLocalReply(w http.ResponseWriter, r *http.Request, e *localError) {
	h := w.Header()
	h.Set(LocalReplyHeader, e.reason)
	msg := fmt.Sprintf("plexus: %s: %s", e.reason, e.detail)
	if isGRPC(r) {
		code, ok := grpcCodes[e.status]
		if !ok {
			code = 2 // UNKNOWN
		}
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(code))
		h.Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	fmt.Fprintln(w, msg)
}
