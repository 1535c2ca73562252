package model

import (
	"fmt"
	"sort"
	"strings"
)

// Condition is a status condition, independent of Kubernetes types; the
// Kubernetes provider writes them as metav1.Conditions.
type Condition struct {
	Type    string
	Status  bool
	Reason  string
	Message string
}

// Condition types and reasons (Gateway API names).
const (
	ConditionAccepted     = "Accepted"
	ConditionResolvedRefs = "ResolvedRefs"
	ConditionConflicted   = "Conflicted"

	ReasonAccepted         = "Accepted"
	ReasonResolvedRefs     = "ResolvedRefs"
	ReasonNoMatchingParent = "NoMatchingParent"
	ReasonBackendNotFound  = "BackendNotFound"
	ReasonTargetNotFound   = "TargetNotFound"
	ReasonConflicted       = "Conflicted"
	// ReasonInvalid: the object passed the schema but cannot be used.
	ReasonInvalid = "Invalid"
)

// ParentStatus is a route's status for one parent service.
type ParentStatus struct {
	Parent     ParentRef
	Conditions []Condition
}

// RouteStatus tells users, per parent, whether a route is in effect and
// whether its backends exist, as Gateway API routes report it.
func (m *Mesh) RouteStatus(r *Route) []ParentStatus {
	var out []ParentStatus
	for _, parent := range r.Parents {
		ps := ParentStatus{Parent: parent}
		accepted := Condition{Type: ConditionAccepted, Status: true, Reason: ReasonAccepted, Message: "the route applies to traffic for the service"}
		switch svc := m.Service(parent.Service); {
		case svc == nil:
			accepted = Condition{Type: ConditionAccepted, Reason: ReasonNoMatchingParent,
				Message: fmt.Sprintf("Service %s does not exist: create it or fix parentRefs", parent.Service)}
		case parent.Port != 0 && !svc.HasPort(parent.Port):
			accepted = Condition{Type: ConditionAccepted, Reason: ReasonNoMatchingParent,
				Message: fmt.Sprintf("Service %s has no port %d (it has %s)", parent.Service, parent.Port, svc.portList())}
		}
		ps.Conditions = append(ps.Conditions, accepted, m.resolvedRefs(r))
		out = append(out, ps)
	}
	return out
}

func (m *Mesh) resolvedRefs(r *Route) Condition {
	var missing []string
	for _, rule := range r.Rules {
		for _, b := range rule.Backends {
			svc := m.Service(b.Service)
			switch {
			case svc == nil:
				missing = append(missing, fmt.Sprintf("Service %s does not exist", b.Service))
			case b.Port == 0 && len(svc.Ports) != 1:
				missing = append(missing, fmt.Sprintf("backend %s needs a port: the Service has %s", b.Service, svc.portList()))
			case b.Port != 0 && !svc.HasPort(b.Port):
				missing = append(missing, fmt.Sprintf("Service %s has no port %d", b.Service, b.Port))
			}
		}
	}
	if len(missing) > 0 {
		return Condition{Type: ConditionResolvedRefs, Reason: ReasonBackendNotFound,
			Message: strings.Join(dedupe(missing), "; ") + "; requests for those backends get HTTP 500"}
	}
	return Condition{Type: ConditionResolvedRefs, Status: true, Reason: ReasonResolvedRefs, Message: "every backend exists"}
}

// PolicyStatus is a TrafficPolicy's status for one target service.
type PolicyStatus struct {
	Target     PolicyTarget
	Conditions []Condition
}

// TrafficPolicyStatus tells, per target, whether the policy is in effect,
// and which of its fields an older policy already sets for the same target
// (Conflicted): those fields keep the older policy's values.
func (m *Mesh) TrafficPolicyStatus(p *TrafficPolicy) []PolicyStatus {
	var out []PolicyStatus
	for _, target := range p.Targets {
		ps := PolicyStatus{Target: target}
		if !target.Imported && m.Service(target.Service) == nil {
			ps.Conditions = append(ps.Conditions, Condition{Type: ConditionAccepted, Reason: ReasonTargetNotFound,
				Message: fmt.Sprintf("Service %s does not exist: create it or fix targetRefs", target.Service)})
			out = append(out, ps)
			continue
		}
		ps.Conditions = append(ps.Conditions, Condition{Type: ConditionAccepted, Status: true, Reason: ReasonAccepted, Message: "the policy applies to the target"})
		var conflicts []string
		for _, other := range m.TrafficPolicies { // oldest first
			if other == p {
				break
			}
			for _, ot := range other.Targets {
				if ot == target {
					if fields := sharedFields(p, other); len(fields) > 0 {
						conflicts = append(conflicts, fmt.Sprintf("%s (older) already sets %s", other.Key, strings.Join(fields, ", ")))
					}
				}
			}
		}
		c := Condition{Type: ConditionConflicted, Reason: ReasonAccepted, Message: "no other policy sets the same fields"}
		if len(conflicts) > 0 {
			c = Condition{Type: ConditionConflicted, Status: true, Reason: ReasonConflicted,
				Message: strings.Join(conflicts, "; ") + "; the older policy's values apply"}
		}
		ps.Conditions = append(ps.Conditions, c)
		out = append(out, ps)
	}
	return out
}

func sharedFields(a, b *TrafficPolicy) []string {
	var out []string
	add := func(name string, x, y bool) {
		if x && y {
			out = append(out, name)
		}
	}
	add("loadBalancer", a.LoadBalancer != "", b.LoadBalancer != "")
	add("timeouts.connect", a.ConnectTimeout > 0, b.ConnectTimeout > 0)
	add("timeouts.request", a.RequestTimeout > 0, b.RequestTimeout > 0)
	add("timeouts.idle", a.IdleTimeout > 0, b.IdleTimeout > 0)
	add("retries", a.Retries != nil, b.Retries != nil)
	add("circuitBreaker", a.CircuitBreaker != nil, b.CircuitBreaker != nil)
	add("outlierDetection", a.OutlierDetection != nil, b.OutlierDetection != nil)
	return out
}

// Service finds a service by name in a sorted mesh.
func (m *Mesh) Service(key NamespacedName) *Service {
	i := sort.Search(len(m.Services), func(i int) bool { return !m.Services[i].Key.Less(key) })
	if i < len(m.Services) && m.Services[i].Key == key {
		return m.Services[i]
	}
	return nil
}

// HasPort reports whether the service has the port.
func (s *Service) HasPort(port uint32) bool {
	for _, p := range s.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func (s *Service) portList() string {
	ports := make([]string, 0, len(s.Ports))
	for _, p := range s.Ports {
		ports = append(ports, fmt.Sprint(p.Port))
	}
	if len(ports) == 0 {
		return "no ports"
	}
	return "ports " + strings.Join(ports, ", ")
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// AuthorizationPolicyStatus is the Accepted condition of an authorization
// policy: False, naming them, when services it targets do not exist.
func (m *Mesh) AuthorizationPolicyStatus(p *AuthorizationPolicy) Condition {
	var missing []string
	for _, t := range p.Targets {
		if m.Service(t) == nil {
			missing = append(missing, t.String())
		}
	}
	if len(missing) > 0 {
		return Condition{Type: ConditionAccepted, Reason: ReasonTargetNotFound,
			Message: fmt.Sprintf("Service %s does not exist: create it or fix targetRefs; until then the policy protects nothing", strings.Join(missing, ", "))}
	}
	return Condition{Type: ConditionAccepted, Status: true, Reason: ReasonAccepted, Message: "the policy applies to its workloads"}
}
