// Package listener runs a proxy's listeners: it accepts connections, sniffs
// what they carry when the filter chains need to know (TLS or plaintext,
// HTTP/1.1 or HTTP/2), picks the filter chain, and hands the connection to
// the HTTP engine or proxies it as opaque TCP. A listener's configuration can
// change without closing its socket; connections in flight finish on the
// configuration they started with.
package listener
