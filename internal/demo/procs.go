package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// procs runs the demo's programs, each with its log in dir, and stops
// them all: on SIGTERM first, then SIGKILL. A program also dies with the
// demo itself if that is killed (Pdeathsig), so nothing outlives it.
type procs struct {
	dir string

	mu      sync.Mutex
	running map[string]*exec.Cmd
	// closed: stopAll ran; nothing starts any more.
	closed bool
	exited chan string
}

func newProcs(dir string) *procs {
	return &procs{dir: dir, running: map[string]*exec.Cmd{}, exited: make(chan string, 64)}
}

// start runs name (its log is dir/name.log).
func (p *procs) start(name, path string, args ...string) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return fmt.Errorf("not starting %s: the demo is stopping", name)
	}
	log, err := os.Create(filepath.Join(p.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...) //nolint:noctx // stopped by stop, with a grace period
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("starting %s (%s): %w", name, path, err)
	}
	p.mu.Lock()
	if p.closed { // stopAll ran while this one started
		p.mu.Unlock()
		_ = terminate(cmd)
		return fmt.Errorf("not starting %s: the demo is stopping", name)
	}
	p.running[name] = cmd
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		p.mu.Lock()
		current := p.running[name] == cmd
		if current {
			delete(p.running, name)
		}
		p.mu.Unlock()
		if current {
			select {
			case p.exited <- name:
			default:
			}
		}
	}()
	return nil
}

// isRunning reports whether name runs.
func (p *procs) isRunning(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.running[name]
	return ok
}

// stop ends name and waits for it.
func (p *procs) stop(name string) error {
	p.mu.Lock()
	cmd, ok := p.running[name]
	delete(p.running, name)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s is not running", name)
	}
	return terminate(cmd)
}

// stopAll ends every program, all at once.
func (p *procs) stopAll() {
	p.mu.Lock()
	cmds := p.running
	p.running = map[string]*exec.Cmd{}
	p.closed = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, cmd := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); _ = terminate(cmd) }()
	}
	wg.Wait()
}

// terminate sends SIGTERM to the program's process group, and SIGKILL
// when it has not exited 5 seconds later.
func terminate(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

// log reads the end of name's log, for errors.
func (p *procs) logTail(name string) string {
	b, err := os.ReadFile(filepath.Join(p.dir, name+".log"))
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitFor polls ok until it holds, ctx ends, or the timeout passes.
func waitFor(ctx context.Context, what string, timeout time.Duration, ok func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ok()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
