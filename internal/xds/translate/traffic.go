package translate

import "github.com/plexus-mesh/plexus/internal/model"

// effectiveTraffic resolves a service port's resilience settings: the
// mesh defaults, overridden field by field by TrafficPolicies that target
// the service (a policy naming this port's section beats one for the whole
// service; among equals the oldest wins, as Gateway API policy attachment
// says).
func effectiveTraffic(m *model.Mesh, svc *model.Service, port model.ServicePort) model.Traffic {
	t := m.Settings.Traffic
	var whole, section []*model.TrafficPolicy
	for _, p := range m.TrafficPolicies { // sorted oldest first
		for _, target := range p.Targets {
			if target.Imported || target.Service != svc.Key {
				continue
			}
			switch target.SectionName {
			case "":
				whole = append(whole, p)
			case port.Name:
				section = append(section, p)
			}
		}
	}
	// Apply the weakest first so the strongest is written last.
	for _, group := range [][]*model.TrafficPolicy{whole, section} {
		for i := len(group) - 1; i >= 0; i-- {
			overlay(&t, group[i])
		}
	}
	return t
}

func overlay(t *model.Traffic, p *model.TrafficPolicy) {
	if p.LoadBalancer != "" {
		t.LoadBalancer = p.LoadBalancer
	}
	if p.ConnectTimeout > 0 {
		t.ConnectTimeout = p.ConnectTimeout
	}
	if p.RequestTimeout > 0 {
		t.RequestTimeout = p.RequestTimeout
	}
	if p.IdleTimeout > 0 {
		t.IdleTimeout = p.IdleTimeout
	}
	if p.Retries != nil {
		t.Retries = p.Retries
	}
	if p.CircuitBreaker != nil {
		t.CircuitBreaker = p.CircuitBreaker
	}
	if p.OutlierDetection != nil {
		t.OutlierDetection = p.OutlierDetection
	}
}
