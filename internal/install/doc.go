// Package install renders what installs Plexus: the kustomize overlays in
// config/ and the OLM bundle (ClusterServiceVersion and friends) built from
// them, for "make bundle" and for the tests that apply and validate both.
package install
