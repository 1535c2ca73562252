package monitoring

import (
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/telemetry"
)

// Annotations with which a Service overrides the Mesh's objectives.
const (
	AnnotationSLOAvailability = "mesh.plexus.dev/slo-availability"
	AnnotationSLOLatency      = "mesh.plexus.dev/slo-latency"
)

// FromMesh derives the Options of a Mesh whose operator runs in namespace
// and serves its metrics as metrics, with the objectives the services'
// annotations override. A bad objective (in the Mesh or in an annotation)
// is replaced by the default and reported in the error; the Options are
// usable either way.
func FromMesh(mesh *meshv1.Mesh, namespace string, metrics MetricsServing, services []corev1.Service) (Options, error) {
	spec := mesh.Spec.DeepCopy()
	spec.Default()
	obs := spec.Observability
	o := Options{
		Namespace:           namespace,
		Cluster:             string(spec.ClusterName),
		MonitorLabels:       obs.ServiceMonitor.Labels,
		RuleLabels:          obs.PrometheusRule.Labels,
		AlertLabels:         obs.PrometheusRule.AlertLabels,
		DashboardNamespace:  obs.Grafana.Namespace,
		DashboardKey:        obs.Grafana.LabelKey,
		DashboardLabel:      obs.Grafana.LabelValue,
		ControlPlaneMetrics: metrics,
	}
	if !*obs.ServiceMonitor.Enabled {
		o.ControlPlaneMetrics = MetricsOff
	}
	if o.DashboardNamespace == "" {
		o.DashboardNamespace = namespace
	}
	var errs []error
	var err error
	if o.ScrapeInterval, err = time.ParseDuration(string(obs.ServiceMonitor.Interval)); err != nil {
		errs = append(errs, fmt.Errorf("spec.observability.serviceMonitor.interval: %w", err))
		o.ScrapeInterval = 30 * time.Second
	}
	slo := obs.PrometheusRule.SLO
	def := StaticOptions().SLO
	if o.SLO.Availability, err = ParsePercent(slo.Availability); err != nil {
		errs = append(errs, fmt.Errorf("spec.observability.prometheusRule.slo.availability: %w; using %g%%", err, def.Availability*100))
		o.SLO.Availability = def.Availability
	}
	if o.SLO.Latency, err = ParsePercent(slo.Latency); err != nil {
		errs = append(errs, fmt.Errorf("spec.observability.prometheusRule.slo.latency: %w; using %g%%", err, def.Latency*100))
		o.SLO.Latency = def.Latency
	}
	if o.SLO.LatencyThreshold, err = time.ParseDuration(string(slo.LatencyThreshold)); err == nil {
		err = LatencyBucket(o.SLO.LatencyThreshold, telemetry.RequestDuration.Buckets)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("spec.observability.prometheusRule.slo.latencyThreshold: %w; using %s", err, def.LatencyThreshold))
		o.SLO.LatencyThreshold = def.LatencyThreshold
	}
	if b := spec.Identity.Builtin; b != nil {
		if o.CertificateTTL, err = time.ParseDuration(string(b.CertificateTTL)); err != nil {
			errs = append(errs, fmt.Errorf("spec.identity.builtin.certificateTTL: %w", err))
		}
	}
	o.Overrides, err = overrides(services)
	return o, errors.Join(append(errs, err)...)
}

// overrides reads the objective annotations of services, sorted so the
// rules do not change when the list order does.
func overrides(services []corev1.Service) ([]ServiceSLO, error) {
	var out []ServiceSLO
	var errs []error
	for _, s := range services {
		o := ServiceSLO{Namespace: s.Namespace, Name: s.Name}
		for key, dst := range map[string]*float64{AnnotationSLOAvailability: &o.Availability, AnnotationSLOLatency: &o.Latency} {
			v, ok := s.Annotations[key]
			if !ok {
				continue
			}
			p, err := ParsePercent(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s/%s, annotation %s: %w; the Mesh's objective applies to it until this is fixed", s.Namespace, s.Name, key, err))
				continue
			}
			*dst = p
		}
		if o.Availability != 0 || o.Latency != 0 {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return out, errors.Join(errs...)
}
