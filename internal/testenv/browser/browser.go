package browser

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/plexus-mesh/plexus/internal/testenv"
)

// WindowWidth and WindowHeight are the browser window's size; screenshots
// are this wide.
const (
	WindowWidth  = 1280
	WindowHeight = 800
)

// Chromium finds the browser: $PLEXUS_CHROMIUM, or what hack/chromium.sh
// finds or installs. It skips the test when there is none and
// PLEXUS_CHROMIUM is unset.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PLEXUS_CHROMIUM"); p != "" {
		return p
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatalf("finding hack/chromium.sh: %v", err)
	}
	var stderr bytes.Buffer
	// Installing the package, the first time, takes a minute or two.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "chromium.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("no Chromium for the browser test (install Debian's chromium, run hack/chromium.sh as root, or set PLEXUS_CHROMIUM): %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// Artifacts is the directory screenshots go to: $PLEXUS_ARTIFACTS, made
// when missing, so that CI keeps them; else the test's temporary
// directory.
func Artifacts(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("PLEXUS_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// Start starts a headless Chromium (see Chromium) that lives until ctx
// ends or the test does, and returns the context of its tab, for Run,
// Poll and Screenshot, and the collector of the page's console errors.
// Errors left in the collector when the test ends fail it: a test Takes
// those it expects.
func Start(t testing.TB, ctx context.Context) (context.Context, *Console) {
	t.Helper()
	bin := Chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(WindowWidth, WindowHeight),
	)...)
	t.Cleanup(cancelAlloc)
	console := &Console{}
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(console.listen))
	t.Cleanup(cancelTab)
	// The first action launches the browser.
	if _, err := chromedp.Run(tab, chromedp.Func(func(context.Context, *chromedp.Target) error { return nil })); err != nil {
		t.Fatalf("starting Chromium (%s): %v", bin, err)
	}
	t.Cleanup(func() {
		for _, m := range console.Take() {
			t.Errorf("browser console: %s", m)
		}
	})
	return tab, console
}

// Console collects the page's console errors and uncaught exceptions.
type Console struct {
	mu   sync.Mutex
	msgs []string
}

func (c *Console) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			parts = append(parts, string(a.Value)+a.Description)
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, msg)
}

// Take returns the messages collected since the last Take and forgets them.
func (c *Console) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

// Run runs an action and fails the test with what it was doing.
func Run[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// Poll waits until the JavaScript expression expr is truthy, for up to
// timeout, and otherwise fails the test with what it waited for and what
// the page shows.
func Poll(t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText.slice(0, 3000)`))
		t.Fatalf("waiting until %s: %v\nthe page shows: %s", what, err, page)
	}
}

// Screenshot saves the whole page as dir/name (a PNG), logs and returns
// its path.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	png := Run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}
