package kube

import (
	"errors"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/model"
)

// Settings converts a Mesh, applying its defaults.
func Settings(mesh *meshv1.Mesh) (model.Settings, error) {
	spec := mesh.Spec.DeepCopy()
	spec.Default()
	s := model.Settings{
		ClusterName: string(spec.ClusterName),
		Network:     spec.Network,
		TrustDomain: string(spec.TrustDomain),
		MTLS:        model.MTLSMode(spec.MTLS.Mode),
	}
	for _, ns := range spec.MTLS.Namespaces {
		if s.NamespaceMTLS == nil {
			s.NamespaceMTLS = map[string]model.MTLSMode{}
		}
		s.NamespaceMTLS[ns.Namespace] = model.MTLSMode(ns.Mode)
	}
	d := &durations{object: ""}
	tr := spec.Traffic
	s.Traffic = model.Traffic{
		LoadBalancer:   model.LoadBalancer(tr.LoadBalancer.Type),
		ConnectTimeout: d.parse("spec.traffic.connectTimeout", tr.ConnectTimeout),
	}
	if tr.RequestTimeout != nil {
		s.Traffic.RequestTimeout = d.parse("spec.traffic.requestTimeout", *tr.RequestTimeout)
	}
	s.Traffic.Retries = Retries(tr.Retries, d.parse)
	s.Traffic.OutlierDetection = outlier(tr.OutlierDetection, d.parse)
	s.RootRotation = mesh.Annotations[AnnotationRotateRoot]
	if gw := spec.Federation.EastWestGateway; gw != nil && gw.Port > 0 {
		s.EastWestPort = uint32(gw.Port)
	}
	if b := spec.Identity.Builtin; b != nil && b.RootCASecretRef != nil {
		s.RootCASecret = &model.NamespacedName{Namespace: b.RootCASecretRef.Namespace, Name: b.RootCASecretRef.Name}
	}
	if b := spec.Identity.Builtin; b != nil && b.CertificateTTL != "" {
		s.CertificateTTL = d.parse("spec.identity.builtin.certificateTTL", b.CertificateTTL)
	}
	return s, errors.Join(d.errs...)
}

// Retries converts an API retry setting; parse turns durations.
func Retries(r *meshv1.Retries, parse func(string, gwapiv1.Duration) time.Duration) *model.Retries {
	if r == nil {
		return nil
	}
	out := &model.Retries{Attempts: int(deref(r.Attempts))}
	if r.PerTryTimeout != nil {
		out.PerTryTimeout = parse("retries.perTryTimeout", *r.PerTryTimeout)
	}
	for _, on := range r.RetryOn {
		out.On = append(out.On, string(on))
	}
	for _, c := range r.RetriableStatusCodes {
		out.StatusCodes = append(out.StatusCodes, uint32(c))
	}
	if b := r.Budget; b != nil {
		out.BudgetPercent = float64(b.Percent)
		out.MinRetriesPerSecond = uint32(deref(b.MinRetriesPerSecond))
	}
	return out
}

func u32(p *int32) uint32 {
	if p == nil || *p < 0 {
		return 0
	}
	return uint32(*p)
}
