package translate

import (
	"fmt"
	"time"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/nodemeta"
)

// Well-known ports and names, shared with "plexus-proxy init".
const (
	OutboundCapturePort = 15001
	InboundCapturePort  = 15006

	VirtualOutbound = "virtual-outbound"
	VirtualInbound  = "virtual-inbound"
	Passthrough     = "passthrough"

	// CertificateSecret and RootSecret are the SDS names of the proxy's
	// own certificate and its trust domain's roots.
	CertificateSecret = nodemeta.CertificateSecret
	RootSecret        = nodemeta.RootSecret
)

// defaultConnectTimeout bounds connections to the local application and
// to passthrough destinations.
const defaultConnectTimeout = 5 * time.Second

// ClusterName names the cluster of one service port.
func ClusterName(svc model.NamespacedName, port uint32) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, svc.Namespace, svc.Name)
}

// InboundClusterName names the cluster that delivers to the local app.
func InboundClusterName(port uint32) string { return fmt.Sprintf("inbound|%d", port) }

// RouteName names the route configuration of an outbound HTTP port.
func RouteName(port uint32) string { return fmt.Sprintf("outbound|%d", port) }

// InboundRouteName names the route configuration of an inbound HTTP port.
func InboundRouteName(port uint32) string { return fmt.Sprintf("inbound|%d", port) }

// EastWestPort is where an east-west gateway takes connections from peer
// clusters.
const EastWestPort = 15443

// EastWestListener names the gateway's listener.
const EastWestListener = "east-west"

// ServerName is the TLS server name a client sidecar sends for a service
// port, and an east-west gateway routes on (ADR 0005).
func ServerName(svc model.NamespacedName, port uint32) string {
	return fmt.Sprintf("outbound.%d.%s.%s.%s", port, svc.Name, svc.Namespace, model.ClusterSetDomain)
}

// GatewayClusterName names a gateway's cluster of one exported service
// port: plain TCP to the service's local endpoints.
func GatewayClusterName(svc model.NamespacedName, port uint32) string {
	return fmt.Sprintf("gateway|%d|%s|%s", port, svc.Namespace, svc.Name)
}

// FederationServerName is model.FederationServerName.
func FederationServerName(td string) string { return model.FederationServerName(td) }

// FederationCluster names the gateway's cluster of the federation API.
const FederationCluster = "federation"
