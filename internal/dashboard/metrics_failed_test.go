package dashboard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// TestFailedRequestAgreesWithErrorSelectors checks the scraper's idea of a
// failed request, built from monitoring.ErrorSelectors, against the
// definition the selectors stand for: an HTTP 5xx, or a gRPC server error
// (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
// DATA_LOSS) in a response that was not a 5xx.
func TestFailedRequestAgreesWithErrorSelectors(t *testing.T) {
	serverError := map[string]bool{"2": true, "4": true, "12": true, "13": true, "14": true, "15": true}
	codes := []string{"", "0", "abc", "5xx", "50", "5000"}
	for c := range 1000 {
		codes = append(codes, strconv.Itoa(c))
	}
	statuses := []string{"", "-1", "02", "140"}
	for s := range 20 {
		statuses = append(statuses, strconv.Itoa(s))
	}
	for _, code := range codes {
		for _, status := range statuses {
			labels := map[string]string{telemetry.LabelResponseCode: code, telemetry.LabelGRPCStatus: status, telemetry.LabelDirection: telemetry.Outbound}
			is5xx := len(code) == 3 && code[0] == '5'
			want := is5xx || serverError[status]
			if got := failedRequest.matches(labels); got != want {
				t.Errorf("response_code=%q grpc_status=%q: failed %v, want %v", code, status, got, want)
			}
		}
	}
	// A series without the labels at all is not a failure.
	if failedRequest.matches(map[string]string{}) {
		t.Error("a series without response_code and grpc_status counts as failed")
	}
}

func TestParsePromSelector(t *testing.T) {
	s, err := parsePromSelector(` code = "200" , method!="GET",path=~"/api/.*", user!~"a\"b|c" `)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"code": "200", "method": "POST", "path": "/api/x", "user": "d"}, true},
		{map[string]string{"code": "200", "method": "GET", "path": "/api/x", "user": "d"}, false},
		{map[string]string{"code": "200", "method": "POST", "path": "/apix", "user": "d"}, false},
		{map[string]string{"code": "200", "method": "POST", "path": "/api/x", "user": `a"b`}, false},
		{map[string]string{"code": "2000", "method": "POST", "path": "/api/x", "user": "d"}, false},
	} {
		if got := s.matches(tc.labels); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.labels, got, tc.want)
		}
	}
	for _, bad := range []string{``, `code`, `code="200`, `code=~"("`, `code="200" method="GET"`, `code=200`} {
		if _, err := parsePromSelector(bad); err == nil || !strings.Contains(err.Error(), "selector") {
			t.Errorf("parsePromSelector(%q) = %v, want an error", bad, err)
		}
	}
}
