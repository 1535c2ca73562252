// Package local is the local-mode provider: it reads mesh configuration as
// the same YAML kinds from a directory and lets workloads register through
// their proxy's xDS node metadata, so a mesh runs with no Kubernetes.
package local
