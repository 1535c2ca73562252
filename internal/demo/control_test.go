package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// The control API changes the running demo for plexctl only: it takes
// JSON, checks what it is given, and says what it did.
func TestControlAPI(t *testing.T) {
	dir := t.TempDir()
	d := &run{plan: Plan{Base: 17700}, faults: &faults{}, procs: newProcs(dir), canary: 10,
		east: &cluster{name: "east", dir: filepath.Join(dir, "east")}, west: &cluster{name: "west", dir: filepath.Join(dir, "west")}}
	if err := d.serveControl(); err != nil {
		t.Skipf("control port: %v", err)
	}
	t.Cleanup(func() { _ = d.control.Close() })
	base := "http://" + d.plan.Local(offControl)
	post := func(path, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// A form post, as any web page can send, is refused.
	if code, out := post("/faults/reviews-v2", "text/plain", `{"errorRate":1}`); code != http.StatusUnsupportedMediaType {
		t.Errorf("a cross-site style post: %d %v", code, out)
	}
	code, out := post("/faults/reviews-v2", "application/json", `{"errorRate":0.5}`)
	if code != http.StatusOK || !bytes.Contains(mustJSON(t, out["faults"]), []byte(`"reviews-v2":{"delay":0,"errorRate":0.5}`)) {
		t.Errorf("setting a fault: %d %v", code, out)
	}
	for path, want := range map[string]string{
		"/faults/loadgen":      "no workload \"loadgen\" takes faults",
		"/faults/nobody":       "no workload \"nobody\"",
		"/canary/150":          "want 0 to 100",
		"/gateways/north/stop": "no cluster \"north\"",
	} {
		if code, out := post(path, "application/json", `{"errorRate":1}`); code < 400 || !strings.Contains(out["error"].(string), want) {
			t.Errorf("%s: %d %v, want it to say %q", path, code, out, want)
		}
	}
	if code, out := post("/faults/reviews-v2", "application/json", `{"errorRate":2}`); code != http.StatusBadRequest {
		t.Errorf("an error rate above 1: %d %v", code, out)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
