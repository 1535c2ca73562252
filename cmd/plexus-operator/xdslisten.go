package main

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// With --xds-mtls-mode=permissive one port takes both mutual TLS and
// plaintext xDS: the first byte of a connection tells them apart (a TLS
// record starts with 0x16, HTTP/2 with "P").

// sniffTimeout bounds how long a connection may stay silent before its
// first byte; a gRPC client speaks first.
const sniffTimeout = 10 * time.Second

// splitListener hands the connections of one listener to two: TLS
// connections to tls, the rest to plain.
type splitListener struct {
	ln         net.Listener
	tls, plain *childListener
	closeOnce  sync.Once
	done       chan struct{}
}

func splitTLS(ln net.Listener) *splitListener {
	s := &splitListener{ln: ln, done: make(chan struct{})}
	s.tls = &childListener{parent: s, conns: make(chan net.Conn)}
	s.plain = &childListener{parent: s, conns: make(chan net.Conn)}
	go s.run()
	return s
}

func (s *splitListener) run() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.close()
			return
		}
		go s.route(c)
	}
}

// route sends c to the listener its first byte belongs to.
func (s *splitListener) route(c net.Conn) {
	r := bufio.NewReaderSize(c, 16)
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	first, err := r.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	to := s.plain
	if first[0] == 0x16 {
		to = s.tls
	}
	select {
	case to.conns <- &peeked{Conn: c, r: r}:
	case <-s.done:
		_ = c.Close()
	}
}

func (s *splitListener) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.ln.Close()
	})
}

// childListener is one side of a splitListener; closing either closes
// both.
type childListener struct {
	parent *splitListener
	conns  chan net.Conn
}

func (l *childListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.parent.done:
		return nil, net.ErrClosed
	}
}

func (l *childListener) Close() error   { l.parent.close(); return nil }
func (l *childListener) Addr() net.Addr { return l.parent.ln.Addr() }

// peeked replays the bytes read to classify a connection.
type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }
