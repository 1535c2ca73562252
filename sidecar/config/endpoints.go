package config

import (
	"errors"
	"fmt"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
)

// CompileEndpoints compiles an xDS ClusterLoadAssignment. Localities are
// ordered by priority.
func CompileEndpoints(cla *endpointv3.ClusterLoadAssignment) (*Endpoints, error) {
	if cla.GetClusterName() == "" {
		return nil, errors.New("cluster load assignment without a cluster_name")
	}
	out := &Endpoints{ClusterName: cla.GetClusterName()}
	for i, lle := range cla.GetEndpoints() {
		loc := Locality{
			Region:   lle.GetLocality().GetRegion(),
			Zone:     lle.GetLocality().GetZone(),
			SubZone:  lle.GetLocality().GetSubZone(),
			Priority: lle.GetPriority(),
		}
		for j, lb := range lle.GetLbEndpoints() {
			addr, err := socketAddress(lb.GetEndpoint().GetAddress())
			if err != nil {
				return nil, fmt.Errorf("endpoints %q: endpoints[%d].lb_endpoints[%d]: %w", cla.GetClusterName(), i, j, err)
			}
			ep := Endpoint{Address: addr, Weight: 1}
			if w := lb.GetLoadBalancingWeight(); w != nil {
				if w.GetValue() == 0 {
					return nil, fmt.Errorf("endpoints %q: endpoints[%d].lb_endpoints[%d]: load_balancing_weight must be at least 1", cla.GetClusterName(), i, j)
				}
				ep.Weight = w.GetValue()
			}
			switch lb.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DEGRADED:
				ep.Health = Healthy
			case corev3.HealthStatus_DRAINING:
				ep.Health = Draining
			default:
				ep.Health = Unhealthy
			}
			loc.Endpoints = append(loc.Endpoints, ep)
		}
		out.Localities = append(out.Localities, loc)
	}
	sort.SliceStable(out.Localities, func(i, j int) bool { return out.Localities[i].Priority < out.Localities[j].Priority })
	return out, nil
}
