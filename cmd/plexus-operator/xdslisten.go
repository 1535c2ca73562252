package main

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// One port takes both mutual TLS and plaintext xDS: the first byte of a
// connection tells them apart (a TLS record starts with 0x16, HTTP/2 with
// "P"). Plaintext goes to a server that refuses it in strict mode, so
// that an old proxy learns why, and the refusal is counted.

// sniffTimeout bounds how long a connection may stay silent before its
// first byte; a gRPC client speaks first.
const sniffTimeout = 10 * time.Second

// splitListener hands the connections of one listener to two: TLS
// connections to tls, the rest to plain.
type splitListener struct {
	ln         net.Listener
	tls, plain *childListener

	mu       sync.Mutex
	sniffing map[net.Conn]struct{} // connections not yet handed over
	err      error                 // why it closed
	done     chan struct{}
}

func splitTLS(ln net.Listener) *splitListener {
	s := &splitListener{ln: ln, done: make(chan struct{}), sniffing: map[net.Conn]struct{}{}}
	s.tls = &childListener{parent: s, conns: make(chan net.Conn)}
	s.plain = &childListener{parent: s, conns: make(chan net.Conn)}
	go s.run()
	return s
}

func (s *splitListener) run() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			// Out of file descriptors and the like pass: wait and retry,
			// as net/http and gRPC do.
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.done:
					return
				}
			}
			s.close(err)
			return
		}
		delay = 0
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.sniffing[c] = struct{}{}
		s.mu.Unlock()
		go s.route(c)
	}
}

// route sends c to the listener its first byte belongs to.
func (s *splitListener) route(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.sniffing, c)
		s.mu.Unlock()
	}()
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

// close stops accepting, with err as the reason (nil: closed on purpose),
// and closes the connections not yet handed over.
func (s *splitListener) close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.err = err
	close(s.done)
	_ = s.ln.Close()
	for c := range s.sniffing {
		_ = c.Close()
	}
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
		l.parent.mu.Lock()
		defer l.parent.mu.Unlock()
		if l.parent.err != nil {
			return nil, l.parent.err
		}
		return nil, net.ErrClosed
	}
}

func (l *childListener) Close() error   { l.parent.close(nil); return nil }
func (l *childListener) Addr() net.Addr { return l.parent.ln.Addr() }

// peeked replays the bytes read to classify a connection.
type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }
