package config

import (
	"errors"
	"fmt"
	"sort"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
)

// RBAC is a compiled authorization filter: with action Allow a request
// passes only if some policy matches it; with Deny it passes only if none
// does.
type RBAC struct {
	Deny     bool
	Policies []*RBACPolicy
}

// RBACPolicy matches a request when one of its permissions and one of its
// principals match.
type RBACPolicy struct {
	Name        string
	Permissions []*Permission
	Principals  []*Principal
}

// Permission matches what is asked for. Exactly one field is set.
type Permission struct {
	Any  bool
	And  []*Permission
	Or   []*Permission
	Not  *Permission
	Port uint32
	// Method matches the HTTP method (a ":method" header rule).
	Method *StringMatch
	// Path matches the request path, without the query.
	Path *StringMatch
}

// Principal matches who asks. Exactly one field is set.
type Principal struct {
	Any bool
	And []*Principal
	Or  []*Principal
	Not *Principal
	// Authenticated matches the peer's SPIFFE ID from its verified
	// certificate; a peer without one never matches.
	Authenticated *StringMatch
}

// AuthzRequest is what an authorization decision looks at. For opaque
// TCP, HTTP is false and permissions on methods and paths never match.
type AuthzRequest struct {
	Port         uint32
	HTTP         bool
	Method, Path string
	// Peer is the caller's verified SPIFFE ID, "" for plaintext.
	Peer string
}

// Allows decides r; when it denies, policy names the policy that decided
// (for Deny) or is "" (no Allow policy matched).
func (r *RBAC) Allows(req *AuthzRequest) (ok bool, policy string) {
	for _, p := range r.Policies {
		if p.matches(req) {
			return !r.Deny, p.Name
		}
	}
	return r.Deny, ""
}

func (p *RBACPolicy) matches(req *AuthzRequest) bool {
	return anyMatch(p.Permissions, req) && anyMatch(p.Principals, req)
}

type matcher interface{ matches(*AuthzRequest) bool }

func anyMatch[T matcher](list []T, req *AuthzRequest) bool {
	for _, x := range list {
		if x.matches(req) {
			return true
		}
	}
	return false
}

func allMatch[T matcher](list []T, req *AuthzRequest) bool {
	for _, x := range list {
		if !x.matches(req) {
			return false
		}
	}
	return true
}

func (p *Permission) matches(req *AuthzRequest) bool {
	switch {
	case p.Any:
		return true
	case p.And != nil:
		return allMatch(p.And, req)
	case p.Or != nil:
		return anyMatch(p.Or, req)
	case p.Not != nil:
		return !p.Not.matches(req)
	case p.Port != 0:
		return req.Port == p.Port
	case p.Method != nil:
		return req.HTTP && p.Method.Matches(req.Method)
	case p.Path != nil:
		return req.HTTP && p.Path.Matches(req.Path)
	}
	return false
}

func (p *Principal) matches(req *AuthzRequest) bool {
	switch {
	case p.Any:
		return true
	case p.And != nil:
		return allMatch(p.And, req)
	case p.Or != nil:
		return anyMatch(p.Or, req)
	case p.Not != nil:
		return !p.Not.matches(req)
	case p.Authenticated != nil:
		return req.Peer != "" && p.Authenticated.Matches(req.Peer)
	}
	return false
}

// CompileRBAC compiles the subset of Envoy's RBAC rules Plexus generates.
func CompileRBAC(r *rbacv3.RBAC) (*RBAC, error) {
	out := &RBAC{}
	switch r.GetAction() {
	case rbacv3.RBAC_ALLOW:
	case rbacv3.RBAC_DENY:
		out.Deny = true
	default:
		return nil, fmt.Errorf("rbac action %s is not supported: use ALLOW or DENY", r.GetAction())
	}
	names := make([]string, 0, len(r.GetPolicies()))
	for name := range r.GetPolicies() {
		names = append(names, name)
	}
	sort.Strings(names) // a deterministic order: the first match names the decision
	for _, name := range names {
		p := r.GetPolicies()[name]
		if p.GetCondition() != nil || p.GetCheckedCondition() != nil {
			return nil, fmt.Errorf("rbac policy %q: conditions are not supported", name)
		}
		cp := &RBACPolicy{Name: name}
		for _, perm := range p.GetPermissions() {
			c, err := compilePermission(perm)
			if err != nil {
				return nil, fmt.Errorf("rbac policy %q: %w", name, err)
			}
			cp.Permissions = append(cp.Permissions, c)
		}
		for _, prin := range p.GetPrincipals() {
			c, err := compilePrincipal(prin)
			if err != nil {
				return nil, fmt.Errorf("rbac policy %q: %w", name, err)
			}
			cp.Principals = append(cp.Principals, c)
		}
		if len(cp.Permissions) == 0 || len(cp.Principals) == 0 {
			return nil, fmt.Errorf("rbac policy %q needs at least one permission and one principal", name)
		}
		out.Policies = append(out.Policies, cp)
	}
	return out, nil
}

func compilePermission(p *rbacv3.Permission) (*Permission, error) {
	switch r := p.GetRule().(type) {
	case *rbacv3.Permission_Any:
		return &Permission{Any: r.Any}, nil
	case *rbacv3.Permission_AndRules:
		list, err := compileEach(r.AndRules.GetRules(), compilePermission)
		return &Permission{And: list}, err
	case *rbacv3.Permission_OrRules:
		list, err := compileEach(r.OrRules.GetRules(), compilePermission)
		return &Permission{Or: list}, err
	case *rbacv3.Permission_NotRule:
		n, err := compilePermission(r.NotRule)
		return &Permission{Not: n}, err
	case *rbacv3.Permission_DestinationPort:
		if r.DestinationPort == 0 || r.DestinationPort > 65535 {
			return nil, fmt.Errorf("destination_port %d is out of range", r.DestinationPort)
		}
		return &Permission{Port: r.DestinationPort}, nil
	case *rbacv3.Permission_Header:
		if r.Header.GetName() != ":method" {
			return nil, fmt.Errorf("header rule on %q: only :method is supported", r.Header.GetName())
		}
		hm, err := compileHeaderMatch(r.Header)
		if err != nil {
			return nil, err
		}
		if hm.Invert {
			return &Permission{Not: &Permission{Method: &hm.Match}}, nil
		}
		return &Permission{Method: &hm.Match}, nil
	case *rbacv3.Permission_UrlPath:
		m, err := compileStringMatch(r.UrlPath.GetPath())
		if err != nil {
			return nil, fmt.Errorf("url_path: %w", err)
		}
		return &Permission{Path: &m}, nil
	}
	return nil, fmt.Errorf("permission %T is not supported: use any, and_rules, or_rules, not_rule, destination_port, header (:method) or url_path", p.GetRule())
}

func compilePrincipal(p *rbacv3.Principal) (*Principal, error) {
	switch r := p.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return &Principal{Any: r.Any}, nil
	case *rbacv3.Principal_AndIds:
		list, err := compileEach(r.AndIds.GetIds(), compilePrincipal)
		return &Principal{And: list}, err
	case *rbacv3.Principal_OrIds:
		list, err := compileEach(r.OrIds.GetIds(), compilePrincipal)
		return &Principal{Or: list}, err
	case *rbacv3.Principal_NotId:
		n, err := compilePrincipal(r.NotId)
		return &Principal{Not: n}, err
	case *rbacv3.Principal_Authenticated_:
		if r.Authenticated.GetPrincipalName() == nil {
			// Envoy: any authenticated peer.
			return &Principal{Authenticated: &StringMatch{Kind: MatchPresent}}, nil
		}
		m, err := compileStringMatch(r.Authenticated.GetPrincipalName())
		if err != nil {
			return nil, fmt.Errorf("authenticated.principal_name: %w", err)
		}
		return &Principal{Authenticated: &m}, nil
	}
	return nil, fmt.Errorf("principal %T is not supported: use any, and_ids, or_ids, not_id or authenticated", p.GetIdentifier())
}

// compileEach compiles an and/or list, which needs an entry at least.
func compileEach[M any, T any](list []M, compile func(M) (T, error)) ([]T, error) {
	if len(list) == 0 {
		return nil, errors.New("an and/or list needs at least one entry")
	}
	out := make([]T, 0, len(list))
	for _, m := range list {
		c, err := compile(m)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
