package telemetry

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	metricName = regexp.MustCompile(`^plexus_[a-z0-9_]+$`)
	// Labels that would make cardinality unbounded.
	forbiddenLabels = []string{"pod", "path", "url", "instance_ip", "request_id"}
)

func TestProxyMetricsFollowConventions(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	seen := map[string]bool{}
	for _, m := range append(Proxies(), ControlPlane()...) {
		if !metricName.MatchString(m.Name) {
			t.Errorf("%s: names start with plexus_ and use lower snake case", m.Name)
		}
		if seen[m.Name] {
			t.Errorf("%s: defined twice", m.Name)
		}
		seen[m.Name] = true
		if m.Kind == Counter && !strings.HasSuffix(m.Name, "_total") {
			t.Errorf("%s: counters end in _total", m.Name)
		}
		if m.Kind == Histogram && !strings.HasSuffix(m.Name, "_seconds") && !strings.HasSuffix(m.Name, "_bytes") {
			t.Errorf("%s: histograms carry their unit", m.Name)
		}
		if m.Help == "" {
			t.Errorf("%s: no help text", m.Name)
		}
		for _, l := range m.Labels {
			for _, f := range forbiddenLabels {
				if l == f {
					t.Errorf("%s: label %q has unbounded cardinality", m.Name, l)
				}
			}
		}
		var c prometheus.Collector
		switch m.Kind {
		case Counter:
			c = m.CounterVec()
		case Gauge:
			c = m.GaugeVec()
		case Histogram:
			c = m.HistogramVec()
		}
		if err := reg.Register(c); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
	}
}

func TestWrongKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("creating a counter as a gauge did not panic")
		}
	}()
	RequestsTotal.GaugeVec()
}

// Every label a metric uses is explained in the reference.
func TestEveryLabelIsDocumented(t *testing.T) {
	for _, m := range append(Proxies(), ControlPlane()...) {
		for _, l := range m.Labels {
			if LabelHelp[l] == "" {
				t.Errorf("%s: label %s has no LabelHelp entry", m.Name, l)
			}
		}
	}
	ref := Reference()
	for _, m := range append(Proxies(), ControlPlane()...) {
		if !strings.Contains(ref, "`"+m.Name+"`") {
			t.Errorf("%s missing from the reference", m.Name)
		}
	}
}
