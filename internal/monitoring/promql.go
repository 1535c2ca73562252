package monitoring

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Label sets the rules aggregate by.
var (
	// byService is a destination service as its callers see it.
	byService = []string{LabelCluster, telemetry.LabelDirection, telemetry.LabelDestinationCluster, telemetry.LabelDestinationNamespace, telemetry.LabelDestinationService}
	// bySLO is a destination service under an objective (callers' side).
	bySLO = []string{LabelCluster, telemetry.LabelDestinationCluster, telemetry.LabelDestinationNamespace, telemetry.LabelDestinationService}
	// byEdge is one caller workload and the service it calls.
	byEdge = []string{
		LabelCluster, telemetry.LabelSourceCluster, telemetry.LabelSourceNamespace, telemetry.LabelSourceWorkload,
		telemetry.LabelDestinationCluster, telemetry.LabelDestinationNamespace, telemetry.LabelDestinationService,
	}
	// byDestination is an upstream service of one proxy's cluster.
	byDestination = []string{LabelCluster, telemetry.LabelDestinationCluster, telemetry.LabelDestinationNamespace, telemetry.LabelDestinationService}
)

// grpcServerErrors are the gRPC status codes that mean the server failed:
// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and
// DATA_LOSS. Client mistakes (INVALID_ARGUMENT, NOT_FOUND...) are not the
// service's errors.
const grpcServerErrors = "2|4|12|13|14|15"

// ErrorSelectors are the two selectors whose union is "a failed request":
// an HTTP 5xx, or a gRPC server error in a response that was not 5xx.
var ErrorSelectors = [2]string{
	fmt.Sprintf(`%s=~"5.."`, telemetry.LabelResponseCode),
	fmt.Sprintf(`%s!~"5..",%s=~"%s"`, telemetry.LabelResponseCode, telemetry.LabelGRPCStatus, grpcServerErrors),
}

func by(labels []string) string { return strings.Join(labels, ", ") }

// sel writes metric{matchers}; empty matchers give the bare name.
func sel(metric string, matchers ...string) string {
	var m []string
	for _, s := range matchers {
		if s != "" {
			m = append(m, s)
		}
	}
	if len(m) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(m, ",") + "}"
}

// requestRate is the request rate by labels over window w.
func requestRate(labels []string, w, matcher string) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", by(labels), sel(telemetry.RequestsTotal.Name, matcher), w)
}

// errorRate is the failed request rate by labels over w. It is 0, not
// absent, for a series with traffic and no errors, so ratios and panels
// show a healthy service as 0% rather than as nothing.
func errorRate(labels []string, w, matcher string) string {
	m := telemetry.RequestsTotal.Name
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]) or rate(%s[%s]) or 0 * rate(%s[%s]))", by(labels),
		sel(m, matcher, ErrorSelectors[0]), w, sel(m, matcher, ErrorSelectors[1]), w, sel(m, matcher), w)
}

// quantile is a latency quantile by labels over w.
func quantile(q float64, labels []string, w, matcher string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum by (%s, le) (rate(%s_bucket%s[%s])))", q, by(labels), telemetry.RequestDuration.Name, braces(matcher), w)
}

func braces(matcher string) string {
	if matcher == "" {
		return ""
	}
	return "{" + matcher + "}"
}

// leMatcher selects the histogram bucket with upper bound v. Prometheus 3
// writes integral bounds as "1.0" where Prometheus 2 wrote "1"; the
// matcher accepts both.
func leMatcher(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	re := regexp.QuoteMeta(s)
	if !strings.Contains(s, ".") {
		re += `(\\.0)?`
	} else {
		re = strings.ReplaceAll(re, `\.`, `\\.`)
	}
	return fmt.Sprintf(`le=~"%s"`, re)
}

// outbound selects what callers' proxies report.
var outbound = fmt.Sprintf(`%s="%s"`, telemetry.LabelDirection, telemetry.Outbound)
