package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Default fills unset fields with the same values the API server's schema
// defaults give them. Objects read from files in local mode never pass
// through an API server, so the control plane defaults them here; a test
// proves both agree.
func (s *MeshSpec) Default() {
	if s.Network == "" {
		s.Network = "default"
	}
	s.MTLS = orNew(s.MTLS)
	if s.MTLS.Mode == "" {
		s.MTLS.Mode = MTLSStrict
	}
	if s.Identity == nil {
		s.Identity = &Identity{Builtin: &BuiltinCA{}}
	}
	if b := s.Identity.Builtin; b != nil && b.CertificateTTL == "" {
		b.CertificateTTL = "24h"
	}
	s.Traffic = orNew(s.Traffic)
	s.Traffic.Default()
	s.Injection = orNew(s.Injection)
	if s.Injection.NamespaceSelector == nil {
		s.Injection.NamespaceSelector = &metav1.LabelSelector{
			MatchLabels: map[string]string{InjectionNamespaceLabel: InjectionEnabled},
		}
	}
	s.Observability = orNew(s.Observability)
	s.Observability.Default()
	s.Federation = orNew(s.Federation)
	s.Federation.EastWestGateway = orNew(s.Federation.EastWestGateway)
	s.Federation.EastWestGateway.Default()
}

// Default fills unset traffic defaults.
func (t *TrafficDefaults) Default() {
	t.LoadBalancer = orNew(t.LoadBalancer)
	if t.LoadBalancer.Type == "" {
		t.LoadBalancer.Type = LoadBalancerRoundRobin
	}
	if t.ConnectTimeout == "" {
		t.ConnectTimeout = "5s"
	}
	if t.Retries == nil {
		t.Retries = &Retries{
			Attempts: ptr(int32(2)),
			RetryOn:  []RetryOn{"connect-failure", "refused-stream", "unavailable"},
			Budget:   &RetryBudget{},
		}
	}
	if b := t.Retries.Budget; b != nil {
		b.Default()
	}
	if t.OutlierDetection == nil {
		t.OutlierDetection = &OutlierDetection{
			Consecutive5xxErrors: ptr(int32(5)),
			Interval:             ptr(gwapiv1.Duration("10s")),
			BaseEjectionTime:     ptr(gwapiv1.Duration("30s")),
			MaxEjectionPercent:   ptr(int32(50)),
		}
	}
}

// Default fills unset retry budget fields.
func (b *RetryBudget) Default() {
	if b.Percent == 0 {
		b.Percent = 20
	}
	if b.MinRetriesPerSecond == nil {
		b.MinRetriesPerSecond = ptr(int32(10))
	}
}

// Default fills unset observability fields.
func (o *Observability) Default() {
	o.ServiceMonitor = orNew(o.ServiceMonitor)
	setTrue(&o.ServiceMonitor.Enabled)
	if o.ServiceMonitor.Interval == "" {
		o.ServiceMonitor.Interval = "30s"
	}
	o.PrometheusRule = orNew(o.PrometheusRule)
	setTrue(&o.PrometheusRule.Enabled)
	o.PrometheusRule.SLO = orNew(o.PrometheusRule.SLO)
	slo := o.PrometheusRule.SLO
	if slo.Availability == "" {
		slo.Availability = "99.9"
	}
	if slo.LatencyThreshold == "" {
		slo.LatencyThreshold = "500ms"
	}
	if slo.Latency == "" {
		slo.Latency = "99"
	}
	o.Grafana = orNew(o.Grafana)
	setTrue(&o.Grafana.Enabled)
	if o.Grafana.LabelKey == "" {
		o.Grafana.LabelKey = "grafana_dashboard"
	}
	if o.Grafana.LabelValue == "" {
		o.Grafana.LabelValue = "1"
	}
}

// Default fills unset gateway fields.
func (g *EastWestGateway) Default() {
	if g.Enabled == nil {
		g.Enabled = ptr(false)
	}
	if g.Port == 0 {
		g.Port = 15443
	}
	if g.ServiceType == "" {
		g.ServiceType = "LoadBalancer"
	}
	if g.Replicas == 0 {
		g.Replicas = 2
	}
}

// Labels and annotations Plexus reads.
const (
	// InjectionNamespaceLabel on a namespace, set to InjectionEnabled, makes
	// its pods get a sidecar under the default Mesh namespaceSelector.
	InjectionNamespaceLabel = "mesh.plexus.dev/inject"
	// InjectionEnabled is the value of InjectionNamespaceLabel that enables
	// injection.
	InjectionEnabled = "enabled"
)

func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func setTrue(b **bool) {
	if *b == nil {
		*b = ptr(true)
	}
}
