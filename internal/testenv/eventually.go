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
	EventuallyWithin(t, Timeout, what, check)
}

// EventuallyWithin is Eventually with its own limit, for what takes longer
// by nature (an alert's way through Prometheus and Alertmanager).
func EventuallyWithin(t testing.TB, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
