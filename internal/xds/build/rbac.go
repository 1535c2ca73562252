package build

import (
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// RBACHTTPFilter is an HTTP authorization filter with rules.
func RBACHTTPFilter(rules *rbacv3.RBAC) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name:       wellknown.HTTPRoleBasedAccessControl,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&rbachttpv3.RBAC{Rules: rules})},
	}
}

// RBACNetworkFilter is a network authorization filter with rules, for
// opaque TCP.
func RBACNetworkFilter(statPrefix string, rules *rbacv3.RBAC) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       wellknown.RoleBasedAccessControl,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(&rbacnetv3.RBAC{StatPrefix: statPrefix, Rules: rules})},
	}
}

// HTTPManagerWithFilters is HTTPManager with HTTP filters before the
// router.
func HTTPManagerWithFilters(statPrefix, routeName string, filters ...*hcmv3.HttpFilter) *listenerv3.Filter {
	f := HTTPManager(statPrefix, routeName)
	if len(filters) == 0 {
		return f
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
		panic(err) // made just above
	}
	hcm.HttpFilters = append(append([]*hcmv3.HttpFilter(nil), filters...), hcm.HttpFilters...)
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: Any(hcm)}
	return f
}
