package sidecar

import "testing"

// TestDialHost: the name the control plane's certificate must carry is
// the host a gRPC target dials.
func TestDialHost(t *testing.T) {
	for target, want := range map[string]string{
		"plexus-operator.plexus-system.svc:15010":                    "plexus-operator.plexus-system.svc",
		"127.77.1.1:17410":                                           "127.77.1.1",
		"[::1]:15010":                                                "::1",
		"dns:///plexus-operator.plexus-system.svc:15010":             "plexus-operator.plexus-system.svc",
		"dns://10.0.0.10:53/plexus-operator.plexus-system.svc:15010": "plexus-operator.plexus-system.svc",
		"passthrough:///10.96.0.5:15010":                             "10.96.0.5",
		"unix:///run/plexus/xds.sock":                                "localhost",
		"unix:relative.sock":                                         "localhost",
	} {
		if got := dialHost(target); got != want {
			t.Errorf("dialHost(%q) = %q, want %q", target, got, want)
		}
	}
}
