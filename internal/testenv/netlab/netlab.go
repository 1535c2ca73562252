package netlab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Subnet is the pods' network; the bridge is .1.
const (
	subnet  = "10.77.0"
	Gateway = subnet + ".1"
)

var labs atomic.Int32

// Skip skips t unless it can build namespaces: it runs as root and has
// the ip and iptables tools.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces and iptables rules need root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: install the iproute2 and iptables packages (.ci/run does)", tool)
		}
	}
}

// Lab is a node namespace with a bridge that pods attach to.
type Lab struct {
	Node   *NS
	id     string
	bridge string
	pods   int
}

// New creates a lab; t's cleanup removes it.
func New(t testing.TB) *Lab {
	t.Helper()
	id := fmt.Sprintf("%d%c", os.Getpid()%100000, 'a'+(labs.Add(1)-1)%26)
	l := &Lab{id: id, bridge: "pxb" + id}
	l.Node = newNS(t, "plexus-node-"+id)
	l.Node.Exec(t, "ip", "link", "add", l.bridge, "type", "bridge")
	l.Node.Exec(t, "ip", "addr", "add", Gateway+"/24", "dev", l.bridge)
	l.Node.Exec(t, "ip", "link", "set", l.bridge, "up")
	return l
}

// Pod is a namespace joined to the lab's bridge.
type Pod struct {
	*NS
	IP string
}

// Pod creates a pod namespace with the next address of the subnet and a
// default route through the bridge.
func (l *Lab) Pod(t testing.TB, name string) *Pod {
	t.Helper()
	l.pods++
	n := l.pods
	ip := fmt.Sprintf("%s.%d", subnet, 10+n)
	ns := newNS(t, fmt.Sprintf("plexus-%s-%s", name, l.id))
	host, peer := fmt.Sprintf("pxh%s%d", l.id, n), fmt.Sprintf("pxp%s%d", l.id, n)
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", host, "netns", l.Node.Name)
	run(t, "ip", "link", "set", peer, "netns", ns.Name)
	l.Node.Exec(t, "ip", "link", "set", host, "master", l.bridge)
	l.Node.Exec(t, "ip", "link", "set", host, "up")
	ns.Exec(t, "ip", "link", "set", peer, "name", "eth0")
	ns.Exec(t, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	ns.Exec(t, "ip", "link", "set", "eth0", "up")
	ns.Exec(t, "ip", "route", "add", "default", "via", Gateway)
	return &Pod{NS: ns, IP: ip}
}

// NS is a network namespace.
type NS struct{ Name string }

func newNS(t testing.TB, name string) *NS {
	t.Helper()
	_ = exec.CommandContext(context.Background(), "ip", "netns", "del", name).Run()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.CommandContext(context.Background(), "ip", "netns", "del", name).Run() })
	n := &NS{Name: name}
	n.Exec(t, "ip", "link", "set", "lo", "up")
	return n
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command in the namespace and returns its output.
func (n *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Do runs f on an OS thread switched into the namespace: sockets and
// processes it creates live there.
func (n *NS) Do(t testing.TB, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		target, err := os.Open(filepath.Join("/var/run/netns", n.Name))
		if err != nil {
			t.Error(err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		f()
	}()
	<-done
}

// Listen listens on addr inside the namespace.
func (n *NS) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	n.Do(t, func() { ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr) })
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// Dial connects from inside the namespace, as an application there would.
func (n *NS) Dial(ctx context.Context, t testing.TB, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	n.Do(t, func() { c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr) })
	return c, err
}

// HTTPClient makes its connections inside the namespace, one per request.
func (n *NS) HTTPClient(t testing.TB) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return n.Dial(ctx, t, network, addr)
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// Start starts cmd inside the namespace as uid (and gid uid); 0 keeps
// root. t's cleanup kills it.
func (n *NS) Start(t testing.TB, cmd *exec.Cmd, uid uint32) {
	t.Helper()
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	var err error
	n.Do(t, func() { err = cmd.Start() })
	if err != nil {
		t.Fatalf("starting %s in %s: %v", cmd.Path, n.Name, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}
