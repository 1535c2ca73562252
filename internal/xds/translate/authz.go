package translate

import (
	"fmt"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/plexus-mesh/plexus/internal/model"
)

// authorization is the RBAC rules protecting one workload: DENY rules are
// checked first (deny wins), then ALLOW rules; nil means no policy of
// that action selects it. Without any ALLOW policy, everything DENY
// rules do not refuse is allowed.
type authorization struct {
	deny, allow *rbacv3.RBAC
}

// authorizationFor builds the rules of the policies that select w.
func authorizationFor(m *model.Mesh, w *model.Workload) authorization {
	var deny, allow []*model.AuthorizationPolicy
	for _, p := range m.AuthorizationPolicies {
		if !Selects(m, p, w) {
			continue
		}
		if p.Action == model.Deny {
			deny = append(deny, p)
		} else {
			allow = append(allow, p)
		}
	}
	td := m.Settings.TrustDomain
	return authorization{deny: rbacRules(deny, rbacv3.RBAC_DENY, td), allow: rbacRules(allow, rbacv3.RBAC_ALLOW, td)}
}

// Selects reports whether p protects w: p is in w's namespace and names a
// Service w is an endpoint of, or has a selector w's labels match, or
// names neither (the whole namespace).
func Selects(m *model.Mesh, p *model.AuthorizationPolicy, w *model.Workload) bool {
	if p.Key.Namespace != w.Key.Namespace {
		return false
	}
	switch {
	case len(p.Targets) > 0:
		for _, t := range p.Targets {
			if svc := m.Service(t); svc != nil {
				for _, ep := range svc.Endpoints {
					if ep.Address == w.Address {
						return true
					}
				}
			}
		}
		return false
	case p.Selector != "":
		sel, err := labels.Parse(p.Selector)
		return err == nil && sel.Matches(labels.Set(w.Labels))
	}
	return true
}

// rbacRules turns policies of one action into RBAC rules: one RBAC policy
// per rule, named <namespace>/<policy>[<rule index>].
func rbacRules(policies []*model.AuthorizationPolicy, action rbacv3.RBAC_Action, td string) *rbacv3.RBAC {
	if len(policies) == 0 {
		return nil
	}
	out := &rbacv3.RBAC{Action: action, Policies: map[string]*rbacv3.Policy{}}
	for _, p := range policies {
		for i, rule := range p.Rules {
			out.Policies[fmt.Sprintf("%s[%d]", p.Key, i)] = &rbacv3.Policy{Permissions: permissions(rule.To), Principals: principals(rule.From, td)}
		}
	}
	return out
}

func anyPermission() *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
}

// permissions: any destination entry matches (OR); within one, every set
// field must (AND), and any value of a field will do (OR).
func permissions(to []model.AuthorizationDestination) []*rbacv3.Permission {
	if len(to) == 0 {
		return []*rbacv3.Permission{anyPermission()}
	}
	var out []*rbacv3.Permission
	for _, d := range to {
		var and []*rbacv3.Permission
		if len(d.Ports) > 0 {
			var or []*rbacv3.Permission
			for _, port := range d.Ports {
				or = append(or, &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: port}})
			}
			and = append(and, orPermissions(or))
		}
		if len(d.Methods) > 0 {
			var or []*rbacv3.Permission
			for _, method := range d.Methods {
				or = append(or, &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{
					Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(method)},
				}}})
			}
			and = append(and, orPermissions(or))
		}
		if len(d.Paths) > 0 {
			var or []*rbacv3.Permission
			for _, path := range d.Paths {
				m := exact(path)
				if prefix, ok := strings.CutSuffix(path, "*"); ok {
					m = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix}}
				}
				or = append(or, &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
					Rule: &matcherv3.PathMatcher_Path{Path: m},
				}}})
			}
			and = append(and, orPermissions(or))
		}
		if len(and) == 0 { // an entry that sets nothing matches anything
			out = append(out, anyPermission())
			continue
		}
		out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: and}}})
	}
	return out
}

func anyPrincipal() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func orPermissions(or []*rbacv3.Permission) *rbacv3.Permission {
	if len(or) == 1 {
		return or[0]
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: or}}}
}

// principals: any source entry matches (OR); within one, every set field
// must (AND). Namespaces are of the mesh's own trust domain.
func principals(from []model.AuthorizationSource, td string) []*rbacv3.Principal {
	if len(from) == 0 {
		return []*rbacv3.Principal{anyPrincipal()}
	}
	var out []*rbacv3.Principal
	for _, s := range from {
		var and []*rbacv3.Principal
		if len(s.SPIFFEIDs) > 0 {
			and = append(and, orPrincipals(s.SPIFFEIDs, exact))
		}
		if len(s.TrustDomains) > 0 {
			and = append(and, orPrincipals(s.TrustDomains, func(t string) *matcherv3.StringMatcher { return prefix("spiffe://" + t + "/") }))
		}
		if len(s.Namespaces) > 0 {
			and = append(and, orPrincipals(s.Namespaces, func(ns string) *matcherv3.StringMatcher {
				return prefix("spiffe://" + td + "/ns/" + ns + "/sa/")
			}))
		}
		if len(and) == 0 { // an entry that sets nothing matches anyone
			out = append(out, anyPrincipal())
			continue
		}
		out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: and}}})
	}
	return out
}

func orPrincipals(values []string, match func(string) *matcherv3.StringMatcher) *rbacv3.Principal {
	var or []*rbacv3.Principal
	for _, v := range values {
		or = append(or, &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: match(v)}}})
	}
	if len(or) == 1 {
		return or[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: or}}}
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func prefix(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s}}
}
