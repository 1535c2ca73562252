package listener

import (
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watchIdle closes both connections once no byte has moved on them for d.
// Progress is read from the kernel's TCP_INFO counters, so the copy itself
// can stay in the kernel (splice) where nothing could count it. The returned
// stop ends the watch.
func watchIdle(d time.Duration, conns ...net.Conn) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(min(d/4, time.Minute), 10*time.Millisecond))
		defer tick.Stop()
		last, lastChange := progress(conns), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				if p := progress(conns); p != last {
					last, lastChange = p, now
				} else if now.Sub(lastChange) >= d {
					for _, c := range conns {
						_ = c.Close()
					}
					return
				}
			}
		}
	}()
	return sync.OnceFunc(func() { close(done) })
}

// progress sums bytes received and acknowledged on the connections.
func progress(conns []net.Conn) uint64 {
	var total uint64
	for _, c := range conns {
		tc, ok := rawTCP(c)
		if !ok {
			continue
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			continue
		}
		_ = raw.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				total += info.Bytes_received + info.Bytes_acked
			}
		})
	}
	return total
}
