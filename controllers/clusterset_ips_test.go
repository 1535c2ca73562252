package controllers

import (
	"net/netip"
	"testing"

	"github.com/plexus-mesh/plexus/internal/model"
)

func TestPickAddrIsStableAndAvoidsUsed(t *testing.T) {
	key := model.NamespacedName{Namespace: "travel", Name: "cars"}
	a := pickAddr(key, map[netip.Addr]bool{})
	if !ClusterSetPrefix.Contains(a) || a == ClusterSetPrefix.Addr() {
		t.Fatalf("address %s", a)
	}
	if b := pickAddr(key, map[netip.Addr]bool{}); b != a {
		t.Fatalf("the same service got %s, then %s", a, b)
	}
	if b := pickAddr(key, map[netip.Addr]bool{a: true}); b == a || !ClusterSetPrefix.Contains(b) {
		t.Fatalf("an address in use was handed out again: %s", b)
	}
}
