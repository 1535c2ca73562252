package translate

import (
	"fmt"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/plexus-mesh/plexus/internal/model"
	"github.com/plexus-mesh/plexus/internal/xds/build"
)

// virtualHost routes requests for one service port: by any of its
// hostnames or virtual IPs, with or without the port.
func virtualHost(m *model.Mesh, proxyNS string, svc *model.Service, port model.ServicePort, cluster string, t model.Traffic) *routev3.VirtualHost {
	var domains []string
	p := strconv.Itoa(int(port.Port))
	for _, h := range svc.Hostnames {
		domains = append(domains, h, h+":"+p)
	}
	for _, vip := range svc.VIPs {
		domains = append(domains, vip.String(), vip.String()+":"+p)
	}
	return &routev3.VirtualHost{
		Name:    fmt.Sprintf("%s:%d", svc.Key, port.Port),
		Domains: domains,
		Routes:  serviceRoutes(m, proxyNS, svc, port, cluster, t),
	}
}

// defaultRoute sends everything to the service with its traffic settings.
func defaultRoute(cluster string, t model.Traffic) *routev3.Route {
	r := build.RouteToCluster("default", cluster, t.RequestTimeout)
	if rp := retryPolicy(t.Retries); rp != nil {
		r.GetRoute().RetryPolicy = rp
	}
	return r
}

func retryPolicy(r *model.Retries) *routev3.RetryPolicy {
	if r == nil || r.Attempts == 0 {
		return nil
	}
	rp := &routev3.RetryPolicy{RetryOn: strings.Join(r.On, ","), NumRetries: build.UInt32(uint32(r.Attempts)), RetriableStatusCodes: r.StatusCodes}
	if r.PerTryTimeout > 0 {
		rp.PerTryTimeout = build.Duration(r.PerTryTimeout)
	}
	if r.Backoff > 0 {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: build.Duration(r.Backoff)}
	}
	return rp
}

// inboundRoutes deliver every request on an application port to the
// application; the caller's routes already applied timeouts and retries.
func inboundRoutes(port model.ServicePort) *routev3.RouteConfiguration {
	name := InboundRouteName(port.Port)
	return build.RouteConfig(name, build.VirtualHost("inbound", []string{"*"}, build.RouteToCluster("inbound", InboundClusterName(port.Port), 0)))
}

func itoa(i int) string { return strconv.Itoa(i) }
