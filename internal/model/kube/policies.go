package kube

import (
	"errors"
	"fmt"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
)

// MCSGroup is the API group of ServiceImport.
const MCSGroup = "multicluster.x-k8s.io"

// TrafficPolicy converts a TrafficPolicy.
func TrafficPolicy(p *meshv1.TrafficPolicy) (*model.TrafficPolicy, error) {
	d := &durations{object: fmt.Sprintf("TrafficPolicy %s/%s: ", p.Namespace, p.Name)}
	out := &model.TrafficPolicy{
		Key:     model.NamespacedName{Namespace: p.Namespace, Name: p.Name},
		Created: p.CreationTimestamp.Time,
	}
	for _, ref := range p.Spec.TargetRefs {
		t := model.PolicyTarget{
			Service:  model.NamespacedName{Namespace: p.Namespace, Name: string(ref.Name)},
			Imported: string(ref.Group) == MCSGroup,
		}
		if ref.SectionName != nil {
			t.SectionName = string(*ref.SectionName)
		}
		out.Targets = append(out.Targets, t)
	}
	s := p.Spec
	if s.LoadBalancer != nil {
		out.LoadBalancer = model.LoadBalancer(s.LoadBalancer.Type)
	}
	if t := s.Timeouts; t != nil {
		if t.Connect != nil {
			out.ConnectTimeout = d.parse("timeouts.connect", *t.Connect)
		}
		if t.Request != nil {
			out.RequestTimeout = d.parse("timeouts.request", *t.Request)
		}
		if t.Idle != nil {
			out.IdleTimeout = d.parse("timeouts.idle", *t.Idle)
		}
	}
	out.Retries = Retries(s.Retries, d.parse)
	if cb := s.CircuitBreaker; cb != nil {
		out.CircuitBreaker = &model.CircuitBreaker{
			MaxConnections: u32(cb.MaxConnections), MaxPendingRequests: u32(cb.MaxPendingRequests),
			MaxRequests: u32(cb.MaxRequests), MaxRetries: u32(cb.MaxRetries),
		}
	}
	out.OutlierDetection = outlier(s.OutlierDetection, d.parse)
	return out, errors.Join(d.errs...)
}

// outlier converts outlier detection, with Envoy's interval and ejection
// time when unset.
func outlier(o *meshv1.OutlierDetection, d func(string, gwapiv1.Duration) time.Duration) *model.OutlierDetection {
	if o == nil {
		return nil
	}
	od := &model.OutlierDetection{
		Consecutive5xx:           u32(o.Consecutive5xxErrors),
		ConsecutiveGatewayErrors: u32(o.ConsecutiveGatewayErrors),
		MaxEjectionPercent:       10,
		Interval:                 10 * time.Second,
		BaseEjectionTime:         30 * time.Second,
	}
	if o.MaxEjectionPercent != nil {
		od.MaxEjectionPercent = u32(o.MaxEjectionPercent)
	}
	if o.Interval != nil {
		od.Interval = d("outlierDetection.interval", *o.Interval)
	}
	if o.BaseEjectionTime != nil {
		od.BaseEjectionTime = d("outlierDetection.baseEjectionTime", *o.BaseEjectionTime)
	}
	return od
}
