package kube

import (
	"fmt"
	"regexp"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// GRPCRoute converts a GAMMA GRPCRoute. gRPC method matches become path
// matches on "/<service>/<method>", as gRPC sends them.
func GRPCRoute(r *gwapiv1.GRPCRoute) (*model.Route, error) {
	out := &model.Route{Key: model.NamespacedName{Namespace: r.Namespace, Name: r.Name}, Created: r.CreationTimestamp.Time, GRPC: true}
	if out.Parents = parents(r.Namespace, r.Spec.ParentRefs); len(out.Parents) == 0 {
		return nil, nil
	}
	for i, rule := range r.Spec.Rules {
		mr := model.RouteRule{Name: deref((*string)(rule.Name))}
		for _, m := range rule.Matches {
			mm := model.RouteMatch{Path: grpcPath(m.Method)}
			for _, h := range m.Headers {
				mm.Headers = append(mm.Headers, model.ValueMatch{Type: stringMatch(h.Type), Name: string(h.Name), Value: h.Value})
			}
			mr.Matches = append(mr.Matches, mm)
		}
		for _, f := range rule.Filters {
			switch {
			case f.RequestHeaderModifier != nil:
				mr.Filters.RequestHeaders = filters([]gwapiv1.HTTPRouteFilter{{RequestHeaderModifier: f.RequestHeaderModifier}}).RequestHeaders
			case f.ResponseHeaderModifier != nil:
				mr.Filters.ResponseHeaders = filters([]gwapiv1.HTTPRouteFilter{{ResponseHeaderModifier: f.ResponseHeaderModifier}}).ResponseHeaders
			}
		}
		for _, b := range rule.BackendRefs {
			mb, err := backend(r.Namespace, b.BackendRef)
			if err != nil {
				return out, fmt.Errorf("GRPCRoute %s rule %d: %w", out.Key, i, err)
			}
			mr.Backends = append(mr.Backends, mb)
		}
		out.Rules = append(out.Rules, mr)
	}
	return out, nil
}

// grpcPath turns a method match into a path match.
func grpcPath(m *gwapiv1.GRPCMethodMatch) *model.PathMatch {
	if m == nil {
		return nil
	}
	svc, method := deref(m.Service), deref(m.Method)
	if m.Type != nil && *m.Type == gwapiv1.GRPCMethodMatchRegularExpression {
		if svc == "" {
			svc = "[^/]+"
		}
		if method == "" {
			method = "[^/]+"
		}
		return &model.PathMatch{Type: model.PathRegularExp, Value: "/" + svc + "/" + method}
	}
	switch {
	case svc != "" && method != "":
		return &model.PathMatch{Type: model.PathExact, Value: "/" + svc + "/" + method}
	case svc != "":
		return &model.PathMatch{Type: model.PathPrefix, Value: "/" + svc}
	case method != "":
		return &model.PathMatch{Type: model.PathRegularExp, Value: "/[^/]+/" + regexp.QuoteMeta(method)}
	}
	return nil
}
