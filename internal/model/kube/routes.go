package kube

import (
	"errors"
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/plexus-mesh/plexus/internal/model"
)

// HTTPRoute converts a GAMMA HTTPRoute: parentRefs naming Services (group
// "", kind Service). Parents of other kinds (Gateways) are not the mesh's
// and are left out; a route with none left is returned as nil.
func HTTPRoute(r *gwapiv1.HTTPRoute) (*model.Route, error) {
	out := &model.Route{Key: model.NamespacedName{Namespace: r.Namespace, Name: r.Name}, Created: r.CreationTimestamp.Time}
	if out.Parents = parents(r.Namespace, r.Spec.ParentRefs); len(out.Parents) == 0 {
		return nil, nil
	}
	var errs []error
	d := &durations{object: fmt.Sprintf("HTTPRoute %s: ", out.Key)}
	for i, rule := range r.Spec.Rules {
		mr := model.RouteRule{Name: deref((*string)(rule.Name))}
		for _, m := range rule.Matches {
			mr.Matches = append(mr.Matches, match(m))
		}
		mr.Filters = filters(rule.Filters)
		for _, b := range rule.BackendRefs {
			mb, err := backend(r.Namespace, b.BackendRef)
			if err != nil {
				errs = append(errs, fmt.Errorf("HTTPRoute %s rule %d: %w", out.Key, i, err))
				continue
			}
			mr.Backends = append(mr.Backends, mb)
		}
		if t := rule.Timeouts; t != nil {
			if t.Request != nil {
				mr.Timeout = d.parse("timeouts.request", *t.Request)
			}
			if t.BackendRequest != nil {
				mr.BackendTimeout = d.parse("timeouts.backendRequest", *t.BackendRequest)
			}
		}
		if rt := rule.Retry; rt != nil {
			mr.Retries = &model.Retries{Attempts: deref(rt.Attempts), On: []string{"connect-failure", "refused-stream"}}
			for _, c := range rt.Codes {
				mr.Retries.StatusCodes = append(mr.Retries.StatusCodes, uint32(c))
			}
			if len(rt.Codes) > 0 {
				mr.Retries.On = append(mr.Retries.On, "retriable-status-codes")
			}
			if rt.Backoff != nil {
				mr.Retries.Backoff = d.parse("retry.backoff", *rt.Backoff)
			}
		}
		out.Rules = append(out.Rules, mr)
	}
	return out, errors.Join(append(errs, d.errs...)...)
}

// parents are the Services among a route's parentRefs.
func parents(namespace string, refs []gwapiv1.ParentReference) []model.ParentRef {
	var out []model.ParentRef
	for _, p := range refs {
		if !isService(p.Group, p.Kind) {
			continue
		}
		ns := namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		parent := model.ParentRef{Service: model.NamespacedName{Namespace: ns, Name: string(p.Name)}}
		if p.Port != nil {
			parent.Port = uint32(*p.Port)
		}
		out = append(out, parent)
	}
	return out
}

// backend converts a backendRef to a Service (weight 1 unless set).
func backend(namespace string, b gwapiv1.BackendRef) (model.Backend, error) {
	if !isService(b.Group, b.Kind) {
		return model.Backend{}, fmt.Errorf("backend %s is not a Service", b.Name)
	}
	ns := namespace
	if b.Namespace != nil {
		ns = string(*b.Namespace)
	}
	weight := uint32(1)
	if b.Weight != nil {
		weight = uint32(max(*b.Weight, 0))
	}
	out := model.Backend{Service: model.NamespacedName{Namespace: ns, Name: string(b.Name)}, Weight: weight}
	if b.Port != nil {
		out.Port = uint32(*b.Port)
	}
	return out, nil
}

func isService(group *gwapiv1.Group, kind *gwapiv1.Kind) bool {
	return (group == nil || *group == "") && (kind == nil || *kind == "Service")
}

func match(m gwapiv1.HTTPRouteMatch) model.RouteMatch {
	var out model.RouteMatch
	if p := m.Path; p != nil {
		out.Path = &model.PathMatch{Type: model.PathPrefix, Value: "/"}
		if p.Type != nil {
			out.Path.Type = model.PathMatchType(*p.Type)
		}
		if p.Value != nil {
			out.Path.Value = *p.Value
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, model.ValueMatch{Type: stringMatch(h.Type), Name: string(h.Name), Value: h.Value})
	}
	for _, q := range m.QueryParams {
		out.Query = append(out.Query, model.ValueMatch{Type: stringMatch(q.Type), Name: string(q.Name), Value: q.Value})
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	return out
}

func stringMatch[T ~string](t *T) model.StringMatchType {
	if t == nil || *t == "" {
		return model.MatchExact
	}
	return model.StringMatchType(*t)
}

func filters(fs []gwapiv1.HTTPRouteFilter) model.Filters {
	var out model.Filters
	headers := func(h *gwapiv1.HTTPHeaderFilter) *model.HeaderModifier {
		m := &model.HeaderModifier{Remove: h.Remove}
		for _, s := range h.Set {
			if m.Set == nil {
				m.Set = map[string]string{}
			}
			m.Set[string(s.Name)] = s.Value
		}
		for _, a := range h.Add {
			if m.Add == nil {
				m.Add = map[string]string{}
			}
			m.Add[string(a.Name)] = a.Value
		}
		return m
	}
	for _, f := range fs {
		switch {
		case f.RequestHeaderModifier != nil:
			out.RequestHeaders = headers(f.RequestHeaderModifier)
		case f.ResponseHeaderModifier != nil:
			out.ResponseHeaders = headers(f.ResponseHeaderModifier)
		case f.RequestRedirect != nil:
			rr := f.RequestRedirect
			red := &model.Redirect{Scheme: deref(rr.Scheme), Host: string(deref(rr.Hostname)), StatusCode: deref(rr.StatusCode)}
			if rr.Port != nil {
				red.Port = uint32(*rr.Port)
			}
			if p := rr.Path; p != nil {
				red.Path, red.PrefixReplace = deref(p.ReplaceFullPath), deref(p.ReplacePrefixMatch)
			}
			out.Redirect = red
		case f.URLRewrite != nil:
			rw := &model.Rewrite{Host: string(deref(f.URLRewrite.Hostname))}
			if p := f.URLRewrite.Path; p != nil {
				rw.Path, rw.PrefixReplace = deref(p.ReplaceFullPath), deref(p.ReplacePrefixMatch)
			}
			out.Rewrite = rw
		}
	}
	return out
}
