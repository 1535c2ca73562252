package testenv

import (
	"testing"
	"time"
)

// Timeout is how long Eventually waits. It is generous on purpose: tests
// assert what happens, not how fast, and a 2-core CI machine can be busy.
const Timeout = 60 * time.Second

// Eventually retries check every 100ms until it returns nil, and fails the
// test with what and the last error once Timeout has passed.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, Timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
