package httpproxy

import (
	"net/http"
	"strconv"
)

// recorder remembers the status and gRPC status a handler wrote. It unwraps
// to the real writer, so flushing and hijacking (upgrades) still work.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		// Nothing written: a hijacked connection (101) or a client gone.
		return 0
	}
	return r.code
}

// grpcStatus is the grpc-status the response carried, in its headers
// (trailers-only) or trailers; "" for non-gRPC responses.
func (r *recorder) grpcStatus() string {
	h := r.Header()
	if s := h.Get("Grpc-Status"); s != "" {
		return s
	}
	if s := h.Get(http.TrailerPrefix + "Grpc-Status"); s != "" {
		return s
	}
	if ct := h.Get("Content-Type"); len(ct) >= 16 && ct[:16] == "application/grpc" {
		return strconv.Itoa(2) // UNKNOWN: a gRPC response without a status
	}
	return ""
}
