package httpproxy

import (
	"context"
	"io"
	"sync"
)

// replayBody lets a request body be sent again on retry. Attempts read it
// one after another; what the first attempt read is kept (up to
// maxReplayBytes) for the next.
type replayBody struct {
	src io.ReadCloser

	mu       sync.Mutex
	buf      []byte
	eof      bool
	overflow bool // more than maxReplayBytes were read: no replay
	srcErr   error
}

func (b *replayBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow
}

func (b *replayBody) reader() *attemptReader {
	return &attemptReader{b: b, closed: make(chan struct{})}
}

// attemptReader is one attempt's view of the body.
type attemptReader struct {
	b      *replayBody
	pos    int
	once   sync.Once
	closed chan struct{}
}

func (r *attemptReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.pos < len(b.buf) {
		n := copy(p, b.buf[r.pos:])
		r.pos += n
		return n, nil
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.srcErr != nil {
		return 0, b.srcErr
	}
	if b.overflow && r.pos != len(b.buf) {
		return 0, io.ErrUnexpectedEOF // cannot happen: replay is refused
	}
	n, err := b.src.Read(p)
	if n > 0 && !b.overflow {
		if len(b.buf)+n <= maxReplayBytes {
			b.buf = append(b.buf, p[:n]...)
			r.pos = len(b.buf)
		} else {
			b.overflow, b.buf = true, nil
			r.pos = 0
		}
	}
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.srcErr = err
	}
	return n, err
}

// Close marks the attempt done with the body; the transport may call it
// from another goroutine after the attempt returned.
func (r *attemptReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// waitClosed waits until the transport has let go of the body, so two
// attempts never read it at once.
func (r *attemptReader) waitClosed(ctx context.Context) {
	select {
	case <-r.closed:
	case <-ctx.Done():
	}
}

// wrapBody calls done when the response body is closed or fully read. It
// keeps the body writable when it is (upgraded connections).
func wrapBody(body io.ReadCloser, done func()) io.ReadCloser {
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &doneRWC{ReadWriteCloser: rwc, done: done}
	}
	return &doneBody{ReadCloser: body, done: done}
}

type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done()
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

type doneRWC struct {
	io.ReadWriteCloser
	done func()
}

func (b *doneRWC) Close() error {
	err := b.ReadWriteCloser.Close()
	b.done()
	return err
}
