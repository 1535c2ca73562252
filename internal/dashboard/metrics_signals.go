package dashboard

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Both metric sources compute the same signals from the same metrics; this
// file holds what they share.

// Quantiles of the latency signals.
const (
	quantileP50 = 0.5
	quantileP99 = 0.99
)

// maxSeriesPoints bounds the points of one Series, as Prometheus bounds
// the points of a range query (11,000).
const maxSeriesPoints = 11000

// edgeLabels are the labels of plexus_requests_total that name an edge,
// in the order of edgeKey's fields.
var edgeLabels = []string{
	telemetry.LabelSourceWorkload, telemetry.LabelSourceNamespace, telemetry.LabelSourceCluster,
	telemetry.LabelDestinationService, telemetry.LabelDestinationNamespace, telemetry.LabelDestinationCluster,
}

// edgeKey is one caller workload calling one service.
type edgeKey struct {
	sourceWorkload, sourceNamespace, sourceCluster string
	service, namespace, cluster                    string
}

// edgeKeyOf reads an edge from a series' labels; label returns "" for a
// missing label.
func edgeKeyOf(label func(name string) string) edgeKey {
	return edgeKey{
		sourceWorkload:  label(telemetry.LabelSourceWorkload),
		sourceNamespace: label(telemetry.LabelSourceNamespace),
		sourceCluster:   label(telemetry.LabelSourceCluster),
		service:         label(telemetry.LabelDestinationService),
		namespace:       label(telemetry.LabelDestinationNamespace),
		cluster:         label(telemetry.LabelDestinationCluster),
	}
}

func (k edgeKey) calls(svc ServiceKey) bool {
	return k.service == svc.Name && k.namespace == svc.Namespace && k.cluster == svc.Cluster
}

func (k edgeKey) stats(s Signals) EdgeStats {
	return EdgeStats{
		SourceWorkload: k.sourceWorkload, SourceNamespace: k.sourceNamespace, SourceCluster: k.sourceCluster,
		Service: k.service, Namespace: k.namespace, Cluster: k.cluster,
		Signals: s,
	}
}

// sortEdgeStats orders edges by caller, then service, so that both
// sources list them the same way.
func sortEdgeStats(edges []EdgeStats) {
	slices.SortFunc(edges, func(a, b EdgeStats) int {
		return cmp.Or(
			cmp.Compare(a.SourceCluster, b.SourceCluster), cmp.Compare(a.SourceNamespace, b.SourceNamespace),
			cmp.Compare(a.SourceWorkload, b.SourceWorkload), cmp.Compare(a.Cluster, b.Cluster),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service))
	})
}

// errorRatio is failed / total, 0 without traffic. Rates computed from
// separate series can put failed a hair above total; the ratio is capped
// at 1.
func errorRatio(failed, total float64) float64 {
	if !(total > 0) || !(failed > 0) {
		return 0
	}
	return min(failed/total, 1)
}

// latencyMillis converts a latency in seconds to latencyMillis; NaN (no
// observations) and infinities become 0, which Signals means as "no
// traffic".
func latencyMillis(seconds float64) float64 {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return 0
	}
	return seconds * 1000
}

// nonNegativeRate turns NaN, infinities and negative rates into 0.
func nonNegativeRate(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// seriesGrid returns the times of a Series over the last span at step:
// whole multiples of step, the last at or before now, each point standing
// for the step before it. A span shorter than step gives one point.
func seriesGrid(now time.Time, span, step time.Duration) ([]time.Time, error) {
	if step < time.Second {
		return nil, fmt.Errorf("series step %s is too small: it must be at least 1s", step)
	}
	if span <= 0 {
		return nil, fmt.Errorf("series span %s must be positive", span)
	}
	n := max(int64(span/step), 1)
	if n > maxSeriesPoints {
		return nil, fmt.Errorf("series span %s at step %s has %d points, more than the limit of %d: use a larger step", span, step, n, maxSeriesPoints)
	}
	end := now.Truncate(step)
	times := make([]time.Time, n)
	for i := range times {
		times[i] = end.Add(-time.Duration(n-1-int64(i)) * step)
	}
	return times, nil
}

// newZeroSeries allocates a Series of n zero points.
func newZeroSeries(step time.Duration, times []time.Time) *Series {
	s := &Series{
		Step:      Seconds(step),
		Times:     make([]int64, len(times)),
		RPS:       make([]float64, len(times)),
		ErrorRate: make([]float64, len(times)),
		P50:       make([]float64, len(times)),
		P99:       make([]float64, len(times)),
	}
	for i, t := range times {
		s.Times[i] = t.Unix()
	}
	return s
}

// checkSignalWindow refuses a window no rate can be computed over.
func checkSignalWindow(window time.Duration) error {
	if window < time.Second {
		return fmt.Errorf("signal window %s is too small: it must be at least 1s", window)
	}
	return nil
}

// signalsOf are the signals of request and failed-request rates and the
// rates of latency buckets (in seconds, cumulative, with +Inf).
func signalsOf(total, failed float64, buckets []histBucket) Signals {
	return Signals{
		RPS:       nonNegativeRate(total),
		ErrorRate: errorRatio(failed, total),
		P50:       latencyMillis(bucketQuantile(quantileP50, slices.Clone(buckets))),
		P99:       latencyMillis(bucketQuantile(quantileP99, slices.Clone(buckets))),
	}
}
