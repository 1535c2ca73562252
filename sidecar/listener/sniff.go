package listener

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"time"
)

// Sniffed protocols.
const (
	TransportTLS   = "tls"
	TransportPlain = "raw_buffer"
	ProtoHTTP1     = "http/1.1"
	ProtoH2C       = "h2c"
)

// http2Preface starts every HTTP/2 connection with prior knowledge.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// httpMethods are the request-line starts that identify HTTP/1.x.
var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// Classify tells what the first bytes of a connection are. It needs at most
// len(http2Preface) bytes; more reports whether more bytes could change the
// answer.
func Classify(b []byte) (transport, app string, more bool) {
	if len(b) == 0 {
		return "", "", true
	}
	// A TLS record starts with handshake (22) and version major 3.
	if b[0] == 0x16 {
		if len(b) < 2 {
			return "", "", true
		}
		if b[1] == 0x03 {
			return TransportTLS, "", false
		}
		return TransportPlain, "", false
	}
	if prefixOf(b, http2Preface) {
		if len(b) >= len(http2Preface) {
			return TransportPlain, ProtoH2C, false
		}
		return TransportPlain, "", true
	}
	undecided := false
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, m) {
			return TransportPlain, ProtoHTTP1, false
		}
		if prefixOf(b, m) {
			undecided = true
		}
	}
	return TransportPlain, "", undecided
}

// prefixOf reports whether b is a prefix of full (or starts with it).
func prefixOf(b, full []byte) bool {
	n := min(len(b), len(full))
	return bytes.Equal(b[:n], full[:n])
}

// peekedConn is a connection whose first bytes were read for sniffing and
// are replayed to whoever reads it next.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// sniff reads the first bytes of conn, waiting up to timeout: protocols
// where the server speaks first send nothing, and count as opaque TCP.
func sniff(conn net.Conn, timeout time.Duration) (transport, app string, c net.Conn, err error) {
	br := bufio.NewReaderSize(conn, 64)
	pc := &peekedConn{Conn: conn, r: br}
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", "", nil, err
	}
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	for n := 1; n <= len(http2Preface); n++ {
		b, perr := br.Peek(n)
		transport, app, more := Classify(b)
		if !more {
			return transport, app, pc, nil
		}
		if perr != nil {
			var ne net.Error
			if errors.As(perr, &ne) && ne.Timeout() {
				if transport == "" {
					transport = TransportPlain
				}
				return transport, app, pc, nil
			}
			return "", "", nil, perr
		}
		// Peek(n) returned n bytes; ask for all that has arrived so the
		// loop usually ends at once.
		if buffered := br.Buffered(); buffered > n {
			n = min(buffered, len(http2Preface)) - 1
		}
	}
	return TransportPlain, "", pc, nil
}
