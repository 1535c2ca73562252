// Package config compiles the xDS resources a proxy receives (Listener,
// RouteConfiguration, Cluster, ClusterLoadAssignment, Secret) into the
// proxy's own immutable runtime form: validated, regexes compiled, durations
// resolved, defaults applied. A resource that does not compile is refused
// with an error naming the field, which the xDS client sends back as a NACK.
//
// Only the subset of Envoy's API that Plexus generates is accepted; anything
// else in a resource that would change behaviour is refused rather than
// silently ignored.
package config
