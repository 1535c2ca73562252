package httpproxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-mesh/plexus/sidecar/config"
	"github.com/plexus-mesh/plexus/sidecar/upstream"
)

// errPerTryTimeout ends an attempt that outlived the per-try timeout.
var errPerTryTimeout = errors.New("the attempt exceeded the per-try timeout")

// maxReplayBytes is how much of a request body is kept so the request can
// be retried; a longer body streams through and is not retried once sent.
const maxReplayBytes = 64 << 10

// attemptTransport sends a request to hosts of the planned cluster, retrying
// as the route's retry policy allows.
type attemptTransport struct{ h *Handler }

func (t attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.Context().Value(planKey{}).(*plan)
	policy := p.route.Forward.Retry
	if policy == nil {
		policy = p.vh.Retry
	}
	var body *replayBody
	if req.Body != nil && req.Body != http.NoBody {
		// The server closes the downstream body when the handler returns;
		// closing it here would cut off a request still streaming.
		body = &replayBody{src: req.Body}
	}
	var tried []*upstream.Host
	var prev *attemptReader
	for attempt := 0; ; attempt++ {
		host, err := p.cluster.Pick(tried)
		if err != nil {
			return nil, err
		}
		tried = append(tried, host)
		p.host = host
		// A shallow copy is enough: attempts change only the URL and body.
		out := new(http.Request)
		*out = *req
		u := *req.URL
		u.Host, u.Scheme = host.Addr, p.cluster.Scheme()
		out.URL = &u
		if body != nil {
			if prev != nil {
				prev.waitClosed(req.Context())
			}
			prev = body.reader()
			out.Body = prev
		}
		resp, cancelTry, err := t.try(out, p, host, policy)
		reason := retryReason(policy, resp, err)
		p.cluster.Report(host, outcome(resp, err))
		canRetry := reason != "" && policy != nil && attempt < policy.Attempts &&
			(body == nil || body.replayable()) && req.Context().Err() == nil
		if canRetry {
			releaseRetry, rerr := p.cluster.AcquireRetry()
			if rerr == nil {
				discard(resp)
				cancelTry()
				if t.h.cfg.Observer != nil {
					t.h.cfg.Observer.Retry(p.cluster.Config(), reason)
				}
				waitErr := backoff(req.Context(), policy, attempt)
				releaseRetry()
				if waitErr == nil {
					continue
				}
				return nil, waitErr
			}
		}
		if err != nil {
			cancelTry()
			return nil, err
		}
		return resp, nil
	}
}

// try sends one attempt, bounded by the per-try timeout until the response
// headers arrive. The returned cancel ends the attempt; the response body
// calls it when closed.
func (t attemptTransport) try(req *http.Request, p *plan, host *upstream.Host, policy *config.RetryPolicy) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancel(req.Context())
	var timedOut atomic.Bool
	var timer *time.Timer
	if policy != nil && policy.PerTryTimeout > 0 {
		timer = time.AfterFunc(policy.PerTryTimeout, func() { timedOut.Store(true); cancel() })
	}
	host.Started()
	done := sync.OnceFunc(func() {
		host.Finished()
		cancel()
	})
	resp, err := p.cluster.Transport(req).RoundTrip(req.WithContext(ctx))
	p.perTryTimedOut = false
	if timer != nil && !timer.Stop() && timedOut.Load() {
		p.perTryTimedOut = true
		if t.h.cfg.Observer != nil {
			t.h.cfg.Observer.Timeout(p.cluster.Config(), ReasonPerTryTimeout)
		}
		discard(resp)
		resp, err = nil, errPerTryTimeout
	}
	if err != nil {
		done()
		return nil, func() {}, err
	}
	resp.Body = wrapBody(resp.Body, done)
	return resp, done, nil
}

// retryReason returns why the attempt should be retried under policy, or "".
func retryReason(policy *config.RetryPolicy, resp *http.Response, err error) string {
	if policy == nil {
		return ""
	}
	on := policy.On
	if err != nil {
		switch {
		case errors.Is(err, errPerTryTimeout):
			if on&(config.Retry5xx|config.RetryGatewayError|config.RetryReset) != 0 {
				return "per_try_timeout"
			}
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// The request itself ended: nothing to retry.
		case upstream.IsConnectFailure(err):
			if on&(config.RetryConnectFailure|config.Retry5xx|config.RetryGatewayError) != 0 {
				return "connect-failure"
			}
		case strings.Contains(err.Error(), "REFUSED_STREAM"):
			if on&(config.RetryRefusedStream|config.RetryReset|config.Retry5xx) != 0 {
				return "refused-stream"
			}
		default:
			if on&(config.RetryReset|config.Retry5xx|config.RetryGatewayError) != 0 {
				return "reset"
			}
		}
		return ""
	}
	code := resp.StatusCode
	switch {
	case on&config.Retry5xx != 0 && code >= 500:
		return "5xx"
	case on&config.RetryGatewayError != 0 && (code == 502 || code == 503 || code == 504):
		return "gateway-error"
	case on&config.RetryRetriable4xx != 0 && code == http.StatusConflict:
		return "retriable-4xx"
	case on&config.RetryRetriableStatusCodes != 0 && slices.Contains(policy.RetriableStatusCodes, code):
		return "retriable-status-codes"
	}
	if r, ok := grpcRetries[resp.Header.Get("Grpc-Status")]; ok && on&r.on != 0 {
		return r.reason
	}
	return ""
}

// grpcRetries maps the grpc-status values that may be retried to their
// retry condition and its name.
var grpcRetries = map[string]struct {
	on     config.RetryOn
	reason string
}{
	"1":  {config.RetryGRPCCancelled, "cancelled"},
	"4":  {config.RetryGRPCDeadlineExceeded, "deadline-exceeded"},
	"8":  {config.RetryGRPCResourceExhausted, "resource-exhausted"},
	"13": {config.RetryGRPCInternal, "internal"},
	"14": {config.RetryGRPCUnavailable, "unavailable"},
}

// outcome classifies an attempt for outlier detection.
func outcome(resp *http.Response, err error) upstream.Result {
	switch {
	case err != nil:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return upstream.Success // the caller gave up; not the host's fault
		}
		return upstream.GatewayError
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		return upstream.GatewayError
	case resp.StatusCode >= 500:
		return upstream.ServerError
	}
	return upstream.Success
}

// backoff waits before retry number attempt+1: a random time up to
// base * 2^attempt, capped at the policy's max (full jitter).
func backoff(ctx context.Context, policy *config.RetryPolicy, attempt int) error {
	ceiling := policy.BackoffBase << min(attempt, 16)
	if ceiling > policy.BackoffMax || ceiling <= 0 {
		ceiling = policy.BackoffMax
	}
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func discard(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
	_ = resp.Body.Close()
}
