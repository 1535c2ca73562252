package model

import (
	"strings"
	"testing"
	"time"
)

func statusMesh() *Mesh {
	m := validMesh()
	m.Services = append(m.Services, &Service{Key: NamespacedName{"shop", "multi"}, Ports: []ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}})
	m.Sort()
	return m
}

func cond(cs []Condition, typ string) Condition {
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

func TestRouteStatus(t *testing.T) {
	reviews := NamespacedName{"shop", "reviews"}
	tests := map[string]struct {
		route                    Route
		accepted, resolved       bool
		acceptReason, resolveMsg string
	}{
		"all good": {
			route:    Route{Parents: []ParentRef{{Service: reviews}}, Rules: []RouteRule{{Backends: []Backend{{Service: reviews, Port: 9080, Weight: 1}}}}},
			accepted: true, resolved: true, acceptReason: ReasonAccepted,
		},
		"missing parent": {
			route:        Route{Parents: []ParentRef{{Service: NamespacedName{"shop", "nope"}}}},
			acceptReason: ReasonNoMatchingParent, resolved: true,
		},
		"parent port missing": {
			route:        Route{Parents: []ParentRef{{Service: reviews, Port: 1234}}},
			acceptReason: ReasonNoMatchingParent, resolved: true,
		},
		"missing backend": {
			route:    Route{Parents: []ParentRef{{Service: reviews}}, Rules: []RouteRule{{Backends: []Backend{{Service: NamespacedName{"shop", "gone"}, Port: 80, Weight: 1}}}}},
			accepted: true, acceptReason: ReasonAccepted, resolveMsg: "Service shop/gone does not exist",
		},
		"backend without port on a multi-port service": {
			route:    Route{Parents: []ParentRef{{Service: reviews}}, Rules: []RouteRule{{Backends: []Backend{{Service: NamespacedName{"shop", "multi"}, Weight: 1}}}}},
			accepted: true, acceptReason: ReasonAccepted, resolveMsg: "needs a port: the Service has ports 80, 81",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := statusMesh().RouteStatus(&tc.route)
			if len(st) != 1 {
				t.Fatalf("%d parent statuses", len(st))
			}
			a, r := cond(st[0].Conditions, ConditionAccepted), cond(st[0].Conditions, ConditionResolvedRefs)
			if a.Status != tc.accepted || a.Reason != tc.acceptReason || r.Status != tc.resolved {
				t.Fatalf("Accepted=%v (%s) %q, ResolvedRefs=%v %q", a.Status, a.Reason, a.Message, r.Status, r.Message)
			}
			if tc.resolveMsg != "" && !strings.Contains(r.Message, tc.resolveMsg) {
				t.Fatalf("ResolvedRefs message %q does not say %q", r.Message, tc.resolveMsg)
			}
		})
	}
}

func TestTrafficPolicyStatus(t *testing.T) {
	m := statusMesh()
	target := PolicyTarget{Service: NamespacedName{"shop", "reviews"}}
	older := &TrafficPolicy{Key: NamespacedName{"shop", "older"}, Targets: []PolicyTarget{target}, LoadBalancer: Random, Created: time.Unix(1, 0)}
	newer := &TrafficPolicy{Key: NamespacedName{"shop", "newer"}, Targets: []PolicyTarget{target, {Service: NamespacedName{"shop", "gone"}}},
		LoadBalancer: LeastRequest, ConnectTimeout: time.Second, Created: time.Unix(2, 0)}
	m.TrafficPolicies = []*TrafficPolicy{newer, older}
	m.Sort()

	st := m.TrafficPolicyStatus(older)
	if c := cond(st[0].Conditions, ConditionConflicted); c.Status {
		t.Fatalf("the older policy is reported conflicted: %q", c.Message)
	}
	st = m.TrafficPolicyStatus(newer)
	if c := cond(st[0].Conditions, ConditionConflicted); !c.Status || !strings.Contains(c.Message, "shop/older (older) already sets loadBalancer") {
		t.Fatalf("Conflicted = %+v", c)
	}
	if c := cond(st[0].Conditions, ConditionAccepted); !c.Status {
		t.Fatalf("a conflicting policy is still accepted for its other fields: %+v", c)
	}
	if c := cond(st[1].Conditions, ConditionAccepted); c.Status || c.Reason != ReasonTargetNotFound {
		t.Fatalf("missing target: %+v", c)
	}
}
