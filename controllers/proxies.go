package controllers

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/plexus-mesh/plexus/api/v1alpha1"
	"github.com/plexus-mesh/plexus/internal/xds/ads"
)

// ProxyStatus is what the xDS server knows about proxies.
type ProxyStatus interface {
	Connected() []string
	NACKs() []ads.NACK
}

// maxListedNACKs bounds how many refusals a condition message lists.
const maxListedNACKs = 5

// configAccepted decides the ConfigAccepted condition from the proxies'
// refusals, naming the first few with their reasons.
func configAccepted(generation int64, nacks []ads.NACK) metav1.Condition {
	c := metav1.Condition{Type: meshv1.ConditionConfigAccepted, ObservedGeneration: generation}
	if len(nacks) == 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, meshv1.ReasonAllAccepted, "every connected proxy accepted its configuration"
		return c
	}
	sort.Slice(nacks, func(i, j int) bool { return nacks[i].Node < nacks[j].Node })
	var parts []string
	for i, n := range nacks {
		if i == maxListedNACKs {
			parts = append(parts, fmt.Sprintf("and %d more", len(nacks)-maxListedNACKs))
			break
		}
		typ := n.TypeURL[strings.LastIndexByte(n.TypeURL, '.')+1:]
		parts = append(parts, fmt.Sprintf("%s refused its %s: %s", n.Node, typ, n.Message))
	}
	c.Status, c.Reason = metav1.ConditionFalse, meshv1.ReasonRejected
	c.Message = fmt.Sprintf("%d proxies refused their configuration and keep their previous one: %s", len(nacks), strings.Join(parts, "; "))
	return c
}
