package controllers

import (
	"context"
	"hash/fnv"
	"net/netip"
	"sort"

	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// ClusterSetPrefix is where services that only peers run get their
// clusterset IP: callers' proxies intercept connections to it like to any
// Service address, and DNS for <svc>.<ns>.svc.clusterset.local (the MCS
// CoreDNS plugin) answers it from the ServiceImport. The range is never
// routed, as Istio's automatic addresses.
var ClusterSetPrefix = netip.MustParsePrefix("240.240.0.0/16")

// assignClusterSetIPs gives each import of a service with no local
// Service an address: the one its ServiceImport already has, or a new one
// chosen by hashing its name (probing past addresses in use), so that
// addresses stay put across restarts.
func (r *MeshConfigReconciler) assignClusterSetIPs(ctx context.Context, m *model.Mesh) error {
	if len(m.Imports) == 0 {
		return nil
	}
	var existing mcsv1a1.ServiceImportList
	if err := r.Client.List(ctx, &existing, client.MatchingLabels(managedBy)); err != nil {
		return err
	}
	have := map[model.NamespacedName]netip.Addr{}
	used := map[netip.Addr]bool{}
	for _, si := range existing.Items {
		for _, ip := range si.Spec.IPs {
			if a, err := netip.ParseAddr(ip); err == nil && ClusterSetPrefix.Contains(a) {
				have[model.NamespacedName{Namespace: si.Namespace, Name: si.Name}] = a
				used[a] = true
			}
		}
	}
	local := map[model.NamespacedName]bool{}
	for _, s := range m.Services {
		local[s.Key] = true
	}
	var keys []model.NamespacedName
	for _, imp := range m.Imports {
		if !local[imp.Key] {
			keys = append(keys, imp.Key)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	assigned := map[model.NamespacedName]netip.Addr{}
	for _, k := range keys {
		if _, ok := assigned[k]; ok {
			continue
		}
		a, ok := have[k]
		if !ok {
			if a = pickAddr(k, used); !a.IsValid() {
				continue // the range is full: reachable by a local Service only
			}
			used[a] = true
		}
		assigned[k] = a
	}
	for _, imp := range m.Imports {
		if a, ok := assigned[imp.Key]; ok {
			imp.VIPs = []netip.Addr{a}
		}
	}
	return nil
}

// pickAddr hashes key into ClusterSetPrefix, skipping used addresses and
// the network and broadcast ones.
func pickAddr(key model.NamespacedName, used map[netip.Addr]bool) netip.Addr {
	h := fnv.New32a()
	h.Write([]byte(key.String()))
	size := uint32(1) << (32 - ClusterSetPrefix.Bits())
	base := ClusterSetPrefix.Addr().As4()
	start := h.Sum32() % size
	for i := uint32(0); i < size; i++ {
		off := (start + i) % size
		if off == 0 || off == size-1 {
			continue
		}
		n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
		n += off
		a := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		if !used[a] {
			return a
		}
	}
	return netip.Addr{} // 65,534 imported services: the range is full
}
