package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// errHelloRead stops the TLS handshake used to parse a ClientHello.
var errHelloRead = errors.New("client hello read")

// maxHello bounds how much of a connection is read looking for the
// ClientHello: a hello with a post-quantum key share is about 1.5 kB, and
// a TLS record is at most 16 kB.
const maxHello = 16<<10 + 5

// peekServerName reads conn's TLS ClientHello without answering it, and
// returns the server name it asks for ("" when none) and a connection that
// replays what was read, so the TLS session passes through untouched.
func peekServerName(conn net.Conn, timeout time.Duration) (string, net.Conn, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", nil, err
	}
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	var seen bytes.Buffer
	rec := &helloConn{Conn: conn, r: io.TeeReader(io.LimitReader(conn, maxHello), &seen)}
	var name string
	err := tls.Server(rec, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			name = h.ServerName
			return nil, errHelloRead
		},
	}).HandshakeContext(context.Background())
	if !errors.Is(err, errHelloRead) {
		return "", nil, err
	}
	return strings.ToLower(name), &replayConn{Conn: conn, r: io.MultiReader(bytes.NewReader(seen.Bytes()), conn)}, nil
}

// helloConn feeds the TLS parser what it reads from the client and drops
// what the parser would answer.
type helloConn struct {
	net.Conn
	r io.Reader
}

func (c *helloConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *helloConn) Write(p []byte) (int, error) { return len(p), nil }

// replayConn reads the bytes already taken from the connection first.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection, as a relay does when the other
// side has finished sending, so the client sees the end of the stream while
// what it still sends goes on.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// serverNameMatches reports how a chain's server names match name: 2 for
// an exact name, 1 for a "*.suffix" wildcard, 0 for no match.
func serverNameMatches(names []string, name string) int {
	best := 0
	for _, n := range names {
		switch {
		case n == name:
			return 2
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(name, n[1:]) && len(name) > len(n)-1:
			best = 1
		}
	}
	return best
}
