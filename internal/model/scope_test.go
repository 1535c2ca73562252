package model

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseEgress(t *testing.T) {
	got, err := ParseEgress(" ./*, billing/payments,*/audit ", "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := []EgressRule{{"shop", "*"}, {"billing", "payments"}, {"*", "audit"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if !want[0].Matches(NamespacedName{Namespace: "shop", Name: "x"}) || want[1].Matches(NamespacedName{Namespace: "billing", Name: "ledger"}) {
		t.Error("matching is wrong")
	}
	for _, bad := range []string{"reviews", "shop/Reviews", "a/b/c", "/x"} {
		if _, err := ParseEgress(bad, "shop"); err == nil || !strings.Contains(err.Error(), "want NAMESPACE/SERVICE") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseExportTo(t *testing.T) {
	cases := map[string][]string{
		"*":          nil,
		"., billing": {"shop", "billing"},
		".":          {"shop"},
		"":           {"shop"},
		"billing,*":  nil,
	}
	for in, want := range cases {
		got, err := ParseExportTo(in, "shop")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseExportTo("Shop!", "shop"); err == nil {
		t.Error("an invalid namespace was accepted")
	}
	svc := &Service{Key: NamespacedName{Namespace: "billing", Name: "payments"}, ExportTo: []string{"billing", "shop"}}
	if !svc.VisibleFrom("shop") || !svc.VisibleFrom("billing") || svc.VisibleFrom("web") {
		t.Error("VisibleFrom is wrong")
	}
}
