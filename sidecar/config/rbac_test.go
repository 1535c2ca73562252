package config

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

func TestRBACDecisions(t *testing.T) {
	prefix := func(p string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p}}
	}
	allow, err := CompileRBAC(&rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{
		"shop/p[0]": {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: []*rbacv3.Permission{
				{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: 8080}},
				{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{Rule: &matcherv3.PathMatcher_Path{Path: prefix("/api/")}}}},
			}}}}},
			Principals: []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: prefix("spiffe://east.example/ns/shop/")}}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		req  AuthzRequest
		want bool
	}{
		"matches":                {AuthzRequest{Port: 8080, HTTP: true, Path: "/api/x", Peer: "spiffe://east.example/ns/shop/sa/web"}, true},
		"other namespace":        {AuthzRequest{Port: 8080, HTTP: true, Path: "/api/x", Peer: "spiffe://east.example/ns/web/sa/web"}, false},
		"no identity":            {AuthzRequest{Port: 8080, HTTP: true, Path: "/api/x"}, false},
		"other path":             {AuthzRequest{Port: 8080, HTTP: true, Path: "/admin", Peer: "spiffe://east.example/ns/shop/sa/web"}, false},
		"tcp never matches http": {AuthzRequest{Port: 8080, Peer: "spiffe://east.example/ns/shop/sa/web"}, false},
	}
	for name, c := range cases {
		if got, _ := allow.Allows(&c.req); got != c.want {
			t.Errorf("%s: allowed = %v, want %v", name, got, c.want)
		}
	}
	deny := &RBAC{Deny: true, Policies: allow.Policies}
	matching := cases["matches"].req
	if ok, policy := deny.Allows(&matching); ok || policy != "shop/p[0]" {
		t.Errorf("deny: %v by %q", ok, policy)
	}
	if ok, _ := deny.Allows(&AuthzRequest{Port: 9090}); !ok {
		t.Error("deny refused a request no policy matches")
	}

	_, err = CompileRBAC(&rbacv3.RBAC{Policies: map[string]*rbacv3.Policy{"p": {
		Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
		Principals:  []*rbacv3.Principal{{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: &corev3.CidrRange{AddressPrefix: "10.0.0.0"}}}},
	}}})
	if err == nil || !strings.Contains(err.Error(), "is not supported: use any, and_ids") {
		t.Fatalf("an unsupported principal: %v", err)
	}
}
