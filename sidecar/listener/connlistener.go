package listener

import (
	"net"
	"sync"
)

// connListener is a net.Listener fed with connections the listener has
// already accepted and assigned to one filter chain, so an http.Server can
// serve them.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver hands conn to the server; false if the server has stopped.
func (l *connListener) deliver(conn net.Conn) bool {
	select {
	case l.ch <- conn:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
