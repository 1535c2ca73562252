package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Paths of Prometheus' HTTP API.
const (
	promInstantQuery = "/api/v1/query"
	promRangeQuery   = "/api/v1/query_range"
)

// maxPromResponse bounds what is read of one Prometheus answer.
const maxPromResponse = 64 << 20

// promResponse is the envelope of every Prometheus API answer.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// instantQuery evaluates query now and returns its vector.
func (p *Prometheus) instantQuery(ctx context.Context, query string) (model.Vector, error) {
	var v model.Vector
	err := p.call(ctx, promInstantQuery, url.Values{"query": {query}}, model.ValVector, &v)
	return v, err
}

// rangeQuery evaluates query at every step from start to end.
func (p *Prometheus) rangeQuery(ctx context.Context, query string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	form := url.Values{
		"query": {query},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	var m model.Matrix
	err := p.call(ctx, promRangeQuery, form, model.ValMatrix, &m)
	return m, err
}

// call posts form to path and decodes a result of type want into out.
// Its errors name the Prometheus, what went wrong and the query.
func (p *Prometheus) call(ctx context.Context, path string, form url.Values, want model.ValueType, out any) error {
	endpoint := p.baseURL + path
	query := form.Get("query")
	shown := endpoint // errors reach the UI and logs: never a password
	if u, err := url.Parse(endpoint); err == nil {
		shown = u.Redacted()
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("querying Prometheus at %s: %s (query: %s)", shown, fmt.Sprintf(format, args...), query)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and URL
		}
		return fail("%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPromResponse+1))
	if err != nil {
		return fail("reading the answer: %v", err)
	}
	if len(body) > maxPromResponse {
		return fail("the answer is larger than %d MiB", maxPromResponse>>20)
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Status == "" {
		return fail("HTTP %d and not an answer of the Prometheus API: %s", resp.StatusCode, bodySnippet(body))
	}
	if r.Status != "success" {
		return fail("%s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != want.String() {
		return fail("the result is a %s, not a %s", r.Data.ResultType, want)
	}
	if err := json.Unmarshal(r.Data.Result, out); err != nil {
		return fail("decoding the %s: %v", want, err)
	}
	return nil
}

// bodySnippet is the start of a body for an error message.
func bodySnippet(body []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(body))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}

// promDuration writes d as a PromQL duration in its largest exact unit
// ("1m", "90s", "1500ms"), which every Prometheus version parses.
func promDuration(d time.Duration) string {
	d = d.Round(time.Millisecond)
	for _, u := range []struct {
		unit   time.Duration
		suffix string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.suffix
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
