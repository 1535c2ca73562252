package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// TestMakeDemo runs make demo as a newcomer would, for a fixed time: every
// URL it prints answers while it runs, and when it ends nothing it started
// is left running or listening.
func TestMakeDemo(t *testing.T) {
	if bin.proxy == "" {
		t.Skip("the e2e binaries are built when running as root")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := 17100 + os.Getpid()%40*20 // away from a demo the developer may run
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo", fmt.Sprintf("DEMO_FLAGS=--duration 75s --base-port %d --dir %s", base, dir))
	cmd.Dir = root
	if prom := os.Getenv("PLEXUS_PROMETHEUS_BIN"); prom != "" {
		cmd.Env = append(os.Environ(), "PATH="+prom+":"+os.Getenv("PATH"))
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		out  strings.Builder
		urls []string
	)
	bannerDone := make(chan struct{})
	urlRE := regexp.MustCompile(`https?://[0-9.]+:[0-9]+/[a-z/]*`)
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			out.WriteString(line + "\n")
			// The URLs to open come before "Try"; those after are plexctl's.
			if strings.HasPrefix(line, "Try") {
				once.Do(func() { close(bannerDone) })
			}
			select {
			case <-bannerDone:
			default:
				urls = append(urls, urlRE.FindAllString(line, -1)...)
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-bannerDone:
	case <-time.After(8 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("make demo printed no URLs:\n%s", out.String())
	}
	mu.Lock()
	printed := append([]string(nil), urls...)
	mu.Unlock()
	if len(printed) < 5 {
		t.Fatalf("make demo printed %d URLs: %v", len(printed), printed)
	}
	for _, u := range printed {
		testenv.Eventually(t, "the printed URL "+u, func() error {
			code, _, err := testenv.Get(u)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("%d", code)
			}
			return err
		})
	}
	err = cmd.Wait()
	mu.Lock()
	log := out.String()
	mu.Unlock()
	if err != nil || !strings.Contains(log, "nothing is left running") {
		t.Fatalf("make demo: %v\n%s", err, log)
	}
	// Nothing it started still runs or listens.
	ps, _ := exec.CommandContext(context.Background(), "ps", "-eo", "args").Output()
	for _, line := range strings.Split(string(ps), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("still running after the demo: %s", line)
		}
	}
	for _, u := range printed {
		host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), "/")[0]
		if c, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", host); err == nil {
			_ = c.Close()
			t.Errorf("%s still listens after the demo", host)
		}
	}
}
