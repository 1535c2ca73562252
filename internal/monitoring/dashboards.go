package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// panelKind is how a panel draws its queries.
type panelKind int

const (
	timeSeries panelKind = iota
	singleStat
	tableOf
)

type query struct{ expr, legend string }

type panel struct {
	kind               panelKind
	title, description string
	unit               string
	queries            []query
}

type row struct {
	title  string
	panels []panel
}

// dashboardSpec is one dashboard before it is built.
type dashboardSpec struct {
	uid, title, description string
	// variables beyond datasource and cluster, in order.
	variables []variable
	rows      []row
}

type variable struct{ name, label, query string }

// Dashboard is one built dashboard.
type Dashboard struct {
	UID, Title string
	JSON       []byte
}

// dashboardsFolder is the Grafana folder the sidecar puts them in.
const dashboardsFolder = "Plexus"

// Dashboards builds every dashboard.
func Dashboards() ([]Dashboard, error) {
	var out []Dashboard
	for _, spec := range dashboardSpecs() {
		d, err := build(spec)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", spec.uid, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// DashboardConfigMaps wraps the dashboards in ConfigMaps that the Grafana
// sidecar loads.
func DashboardConfigMaps(o Options) ([]*corev1.ConfigMap, error) {
	ds, err := Dashboards()
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ConfigMap, 0, len(ds))
	for _, d := range ds {
		labels := map[string]string{}
		if o.DashboardKey != "" {
			labels[o.DashboardKey] = o.DashboardLabel
		}
		m := meta(d.UID+"-dashboard", o.DashboardNamespace, labels)
		m.Annotations = map[string]string{"grafana_folder": dashboardsFolder}
		out = append(out, &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: m,
			Data:       map[string]string{d.UID + ".json": string(d.JSON)},
		})
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

var datasource = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}

func build(spec dashboardSpec) (Dashboard, error) {
	// The classic dashboard model, not dashboardv2: file and sidecar
	// provisioning load it on every Grafana from 9 to 12, v2 only on
	// Grafana 12 with its new dashboard API enabled.
	b := dashboard.NewDashboardBuilder(spec.title). //nolint:staticcheck // see above

							Uid(spec.uid).
							Description(spec.description).
							Tags([]string{"plexus", "service-mesh"}).
							Refresh("30s").
							Time("now-1h", "now").
							Timezone(common.TimeZoneBrowser).
							Tooltip(dashboard.DashboardCursorSyncCrosshair).
							WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
							WithVariable(queryVariable(variable{"cluster", "Cluster", `label_values(up{job=~"plexus-.*"}, cluster)`}))
	for _, v := range spec.variables {
		b.WithVariable(queryVariable(v))
	}
	for _, r := range spec.rows {
		b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			b.WithPanel(buildPanel(p))
		}
	}
	d, err := b.Build()
	if err != nil {
		return Dashboard{}, err
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return Dashboard{}, err
	}
	return Dashboard{UID: spec.uid, Title: spec.title, JSON: raw}, nil
}

func queryVariable(v variable) cog.Builder[dashboard.VariableModel] {
	return dashboard.NewQueryVariableBuilder(v.name).
		Label(v.label).
		Query(dashboard.StringOrMap{String: ptr(v.query)}).
		Datasource(datasource).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

func targets(p panel, format prometheus.PromQueryFormat, instant bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(p.queries))
	for i, q := range p.queries {
		t := prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend).RefId(string(rune('A' + i))).Format(format)
		if instant {
			t.Instant()
		}
		out = append(out, t)
	}
	return out
}

func buildPanel(p panel) cog.Builder[dashboard.Panel] {
	switch p.kind {
	case singleStat:
		b := stat.NewPanelBuilder().Title(p.title).Description(p.description).Unit(p.unit).Datasource(datasource).Span(6).Height(4)
		for _, t := range targets(p, prometheus.PromQueryFormatTimeSeries, false) {
			b.WithTarget(t)
		}
		return b
	case tableOf:
		// One row per series: the queries' frames are merged on their
		// labels, each query a column.
		b := table.NewPanelBuilder().Title(p.title).Description(p.description).Unit(p.unit).Datasource(datasource).Span(24).Height(8).
			WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
			WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{"excludeByName": map[string]bool{"Time": true}}})
		for _, t := range targets(p, prometheus.PromQueryFormatTable, true) {
			b.WithTarget(t)
		}
		return b
	default:
		b := timeseries.NewPanelBuilder().Title(p.title).Description(p.description).Unit(p.unit).Datasource(datasource).Span(12).Height(8).Min(0)
		for _, t := range targets(p, prometheus.PromQueryFormatTimeSeries, false) {
			b.WithTarget(t)
		}
		return b
	}
}
