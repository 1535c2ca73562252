package controllers

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

func TestConfigAccepted(t *testing.T) {
	if c := configAccepted(4, nil); c.Status != metav1.ConditionTrue || c.Reason != meshv1.ReasonAllAccepted || c.ObservedGeneration != 4 {
		t.Fatalf("no NACKs: %+v", c)
	}
	nacks := []ads.NACK{
		{Node: "web-2", TypeURL: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", Message: `regex "(" does not compile`},
		{Node: "web-1", TypeURL: "type.googleapis.com/envoy.config.listener.v3.Listener", Message: "binding 0.0.0.0:80: permission denied"},
	}
	c := configAccepted(4, nacks)
	want := `2 proxies refused their configuration and keep their previous one: web-1 refused its Listener: binding 0.0.0.0:80: permission denied; web-2 refused its RouteConfiguration: regex "(" does not compile`
	if c.Status != metav1.ConditionFalse || c.Reason != meshv1.ReasonRejected || c.Message != want {
		t.Fatalf("got %+v\nwant message %s", c, want)
	}
	var many []ads.NACK
	for i := range 8 {
		many = append(many, ads.NACK{Node: fmt.Sprintf("p%d", i), TypeURL: "x.Cluster", Message: "bad"})
	}
	if c := configAccepted(1, many); !strings.HasSuffix(c.Message, "and 3 more") {
		t.Fatalf("long lists are cut: %q", c.Message)
	}
}
