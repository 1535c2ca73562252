package dashboard

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// acceptTextFormat asks a metrics endpoint for the Prometheus text format,
// the one parseProxyMetrics reads.
const acceptTextFormat = "text/plain;version=0.0.4"

// maxScrapeBytes bounds what is read of one target's metrics.
const maxScrapeBytes = 16 << 20

// parseProxyMetrics reads the series the scraper keeps from a proxy's
// metrics in the text format: plexus_requests_total and the buckets of
// plexus_request_duration_seconds (with +Inf) of outbound requests.
func parseProxyMetrics(r io.Reader) ([]scrapedValue, error) {
	// The UTF-8 scheme also accepts every legacy name; the proxies' names
	// are legacy ones.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing the metrics: %w", err)
	}
	var out []scrapedValue
	if mf := families[telemetry.RequestsTotal.Name]; mf != nil {
		if t := mf.GetType(); t != dto.MetricType_COUNTER && t != dto.MetricType_UNTYPED {
			return nil, fmt.Errorf("%s is a %s, not a counter", mf.GetName(), t)
		}
		for _, m := range mf.GetMetric() {
			if !isOutbound(m) {
				continue
			}
			v := m.GetCounter().GetValue()
			if m.GetCounter() == nil {
				v = m.GetUntyped().GetValue()
			}
			out = append(out, scrapedValue{key: "r" + labelKey(m), kind: requestsSeries, value: v, labels: labelsOf(m)})
		}
	}
	if mf := families[telemetry.RequestDuration.Name]; mf != nil {
		if t := mf.GetType(); t != dto.MetricType_HISTOGRAM {
			return nil, fmt.Errorf("%s is a %s, not a histogram", mf.GetName(), t)
		}
		for _, m := range mf.GetMetric() {
			if isOutbound(m) {
				out = append(out, histogramBuckets(m)...)
			}
		}
	}
	return out, nil
}

// histogramBuckets are the cumulative buckets of one histogram; its count
// is the +Inf bucket.
func histogramBuckets(m *dto.Metric) []scrapedValue {
	h := m.GetHistogram()
	key, labels := "b"+labelKey(m)+"\xffle=", labelsOf(m)
	add := func(out []scrapedValue, le, count float64) []scrapedValue {
		return append(out, scrapedValue{key: key + strconv.FormatFloat(le, 'g', -1, 64), kind: bucketSeries, le: le, value: count, labels: labels})
	}
	out := make([]scrapedValue, 0, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		if le := b.GetUpperBound(); !math.IsInf(le, +1) && !math.IsNaN(le) {
			out = add(out, le, max(float64(b.GetCumulativeCount()), b.GetCumulativeCountFloat()))
		}
	}
	return add(out, math.Inf(+1), max(float64(h.GetSampleCount()), h.GetSampleCountFloat()))
}

func isOutbound(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == telemetry.LabelDirection {
			return l.GetValue() == telemetry.Outbound
		}
	}
	return false
}

// labelKey identifies a metric's label set, whatever the order its labels
// were written in.
func labelKey(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		pairs = append(pairs, l.GetName()+"="+l.GetValue())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xff")
}

// labelsOf returns a function that maps a metric's labels, for the
// scraper to read once per new series.
func labelsOf(m *dto.Metric) func() map[string]string {
	return func() map[string]string {
		out := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			out[l.GetName()] = l.GetValue()
		}
		return out
	}
}
