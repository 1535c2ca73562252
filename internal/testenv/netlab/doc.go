// Package netlab builds small networks of Linux network namespaces for
// tests: a "node" namespace with a bridge, and "pods" joined to it, each
// with its own loopback, address and iptables, as pods on one Kubernetes
// node have. Tests run processes and sockets inside them. It needs root.
package netlab
