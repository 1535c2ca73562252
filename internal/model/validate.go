package model

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Validate reports every structural problem in the mesh, naming the object
// and field. References between objects (a route to a missing service) are
// not errors here: translation reports them in the route's status.
func (m *Mesh) Validate() error {
	var errs []error
	add := func(obj string, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{obj}, a...)...))
	}
	s := m.Settings
	if s.ClusterName == "" {
		add("settings", "clusterName is empty")
	}
	if s.TrustDomain == "" {
		add("settings", "trustDomain is empty")
	}
	for ns, mode := range s.NamespaceMTLS {
		if mode != MTLSStrict && mode != MTLSPermissive {
			add("settings", "namespace %s: mTLS mode %q is not STRICT or PERMISSIVE", ns, mode)
		}
	}
	if s.FederationAddress != "" {
		// The gateway's cluster is static: the proxy does not resolve names.
		if host, port, err := net.SplitHostPort(s.FederationAddress); err != nil || port == "" || net.ParseIP(host) == nil {
			add("settings", "federation address %q is not IP:port", s.FederationAddress)
		}
	}
	if s.MTLS != MTLSStrict && s.MTLS != MTLSPermissive {
		add("settings", "mTLS mode %q is not STRICT or PERMISSIVE", s.MTLS)
	}
	errs = append(errs, validateTraffic("settings.traffic", &s.Traffic, true)...)

	seen := map[NamespacedName]bool{}
	for _, svc := range m.Services {
		obj := "service " + svc.Key.String()
		if svc.Key.Name == "" || svc.Key.Namespace == "" {
			add(obj, "name and namespace are required")
		}
		if seen[svc.Key] {
			add(obj, "defined twice")
		}
		seen[svc.Key] = true
		errs = append(errs, validatePorts(obj, svc)...)
	}
	for _, r := range m.Routes {
		errs = append(errs, validateRoute(r)...)
	}
	for _, imp := range m.Imports {
		obj := fmt.Sprintf("import %s from %s", imp.Key, imp.Cluster)
		switch {
		case imp.Cluster == "" || imp.Cluster == s.ClusterName:
			add(obj, "the exporting cluster must be a peer, not %q", imp.Cluster)
		case len(imp.Gateways) == 0:
			add(obj, "no gateway addresses to reach it through")
		case len(imp.Ports) == 0:
			add(obj, "no ports")
		}
		for _, id := range imp.Identities {
			if !strings.HasPrefix(id, "spiffe://"+imp.TrustDomain+"/") {
				add(obj, "identity %q is not in the peer's trust domain %q", id, imp.TrustDomain)
			}
		}
	}
	for _, p := range m.TrafficPolicies {
		obj := "traffic policy " + p.Key.String()
		if len(p.Targets) == 0 {
			add(obj, "no targets")
		}
		t := Traffic{LoadBalancer: p.LoadBalancer, Retries: p.Retries, OutlierDetection: p.OutlierDetection}
		errs = append(errs, validateTraffic(obj, &t, false)...)
	}
	for _, p := range m.AuthorizationPolicies {
		obj := "authorization policy " + p.Key.String()
		if p.Action != Allow && p.Action != Deny {
			add(obj, "action %q is not ALLOW or DENY", p.Action)
		}
		if len(p.Targets) > 0 && len(p.Selector) > 0 {
			add(obj, "targets and selector are both set")
		}
		if len(p.Rules) == 0 {
			add(obj, "no rules")
		}
	}
	return errors.Join(errs...)
}

func validatePorts(obj string, svc *Service) []error {
	var errs []error
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for _, p := range svc.Ports {
		if p.Port == 0 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s: port %d is out of range 1-65535", obj, p.Port))
		}
		if numbers[p.Port] {
			errs = append(errs, fmt.Errorf("%s: port %d is listed twice", obj, p.Port))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("%s: port name %q is used twice", obj, p.Name))
		}
		numbers[p.Port], names[p.Name] = true, true
	}
	for _, ep := range svc.Endpoints {
		if !ep.Address.IsValid() {
			errs = append(errs, fmt.Errorf("%s: an endpoint has no address", obj))
		}
		for name, port := range ep.Ports {
			if !names[name] {
				errs = append(errs, fmt.Errorf("%s: endpoint %s names port %q, which the service does not have", obj, ep.Address, name))
			}
			if port == 0 || port > 65535 {
				errs = append(errs, fmt.Errorf("%s: endpoint %s: port %d is out of range", obj, ep.Address, port))
			}
		}
	}
	return errs
}

func validateRoute(r *Route) []error {
	obj := "route " + r.Key.String()
	var errs []error
	if len(r.Parents) == 0 {
		errs = append(errs, fmt.Errorf("%s: no parent service", obj))
	}
	for i, rule := range r.Rules {
		robj := fmt.Sprintf("%s rule %d", obj, i)
		for _, m := range rule.Matches {
			if m.Path != nil {
				switch m.Path.Type {
				case PathExact, PathPrefix:
					if !strings.HasPrefix(m.Path.Value, "/") {
						errs = append(errs, fmt.Errorf("%s: path %q must start with /", robj, m.Path.Value))
					}
				case PathRegularExp:
					if _, err := regexp.Compile(m.Path.Value); err != nil {
						errs = append(errs, fmt.Errorf("%s: path regex %q: %w", robj, m.Path.Value, err))
					}
				default:
					errs = append(errs, fmt.Errorf("%s: path match type %q is unknown", robj, m.Path.Type))
				}
			}
			for _, v := range append(append([]ValueMatch(nil), m.Headers...), m.Query...) {
				if v.Type == MatchRegularExp {
					if _, err := regexp.Compile(v.Value); err != nil {
						errs = append(errs, fmt.Errorf("%s: %s regex %q: %w", robj, v.Name, v.Value, err))
					}
				}
			}
		}
		if rule.Filters.Redirect == nil && len(rule.Backends) > 0 {
			var total uint32
			for _, b := range rule.Backends {
				total += b.Weight
			}
			if total == 0 {
				errs = append(errs, fmt.Errorf("%s: every backend has weight 0", robj))
			}
		}
		if rule.Retries != nil && rule.Retries.Attempts < 0 {
			errs = append(errs, fmt.Errorf("%s: negative retry attempts", robj))
		}
	}
	return errs
}

func validateTraffic(obj string, t *Traffic, complete bool) []error {
	var errs []error
	switch t.LoadBalancer {
	case RoundRobin, LeastRequest, Random:
	case "":
		if complete {
			errs = append(errs, fmt.Errorf("%s: load balancer is not set", obj))
		}
	default:
		errs = append(errs, fmt.Errorf("%s: load balancer %q is not RoundRobin, LeastRequest or Random", obj, t.LoadBalancer))
	}
	if complete && t.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%s: connect timeout must be positive", obj))
	}
	if r := t.Retries; r != nil && r.Attempts < 0 {
		errs = append(errs, fmt.Errorf("%s: negative retry attempts", obj))
	}
	if o := t.OutlierDetection; o != nil && o.MaxEjectionPercent > 100 {
		errs = append(errs, fmt.Errorf("%s: max ejection percent %d is over 100", obj, o.MaxEjectionPercent))
	}
	return errs
}
