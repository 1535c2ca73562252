// Package e2e holds end-to-end tests: the operator, real plexus-proxy
// processes and applications in network namespaces with iptables
// interception, configured only by the control plane. They need root.
package e2e
