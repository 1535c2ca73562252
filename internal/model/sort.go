package model

import (
	"net/netip"
	"slices"
	"sort"
	"time"
)

// Sort puts every list in a deterministic order, so the same mesh always
// translates to the same xDS (stable versions, no needless pushes, golden
// tests that do not flap).
func (m *Mesh) Sort() {
	sort.SliceStable(m.Services, func(i, j int) bool { return m.Services[i].Key.Less(m.Services[j].Key) })
	for _, s := range m.Services {
		slices.SortFunc(s.VIPs, func(a, b netip.Addr) int { return a.Compare(b) })
		sort.SliceStable(s.Ports, func(i, j int) bool { return s.Ports[i].Port < s.Ports[j].Port })
		sort.SliceStable(s.Endpoints, func(i, j int) bool { return s.Endpoints[i].Address.Less(s.Endpoints[j].Address) })
	}
	sort.SliceStable(m.Workloads, func(i, j int) bool { return m.Workloads[i].Key.Less(m.Workloads[j].Key) })
	sort.SliceStable(m.Routes, func(i, j int) bool {
		return olderFirst(m.Routes[i].Created, m.Routes[i].Key, m.Routes[j].Created, m.Routes[j].Key)
	})
	sort.SliceStable(m.TrafficPolicies, func(i, j int) bool {
		return olderFirst(m.TrafficPolicies[i].Created, m.TrafficPolicies[i].Key, m.TrafficPolicies[j].Created, m.TrafficPolicies[j].Key)
	})
	sort.SliceStable(m.AuthorizationPolicies, func(i, j int) bool {
		return m.AuthorizationPolicies[i].Key.Less(m.AuthorizationPolicies[j].Key)
	})
}

// olderFirst orders by creation time, then name: Gateway API's rule for
// which of two conflicting objects wins.
func olderFirst(ta time.Time, ka NamespacedName, tb time.Time, kb NamespacedName) bool {
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return ka.Less(kb)
}
