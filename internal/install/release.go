package install

// Release is the version the install manifests and the OLM bundle name:
// the images ghcr.io/plexus-mesh/plexus-{operator,proxy}:v<Release> and the
// ClusterServiceVersion plexus-operator.v<Release>. "make bundle
// VERSION=x.y.z" builds a bundle of another version.
const Release = "0.1.0"
