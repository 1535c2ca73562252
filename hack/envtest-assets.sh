#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that envtest runs, from the Go
# module proxy, into a per-version cache outside the repository. Binaries that
# are already built are reused. Prints the directory to use as
# KUBEBUILDER_ASSETS on its last line.
#
#   PLEXUS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/plexus)
set -euo pipefail

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${PLEXUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plexus}"
dir="$cache/envtest/k8s-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
mkdir -p "$dir"

log() { echo "envtest-assets: $*" >&2; }

if [[ ! -x "$dir/kube-apiserver" ]]; then
  log "building kube-apiserver ${KUBE_VERSION} from the Go module proxy (about 6 minutes, once per machine)"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$here/tools/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" \
    -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi

if [[ ! -x "$dir/etcd" ]]; then
  log "building etcd ${ETCD_VERSION} from the Go module proxy (once per machine)"
  (cd "$here/tools/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
    -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$dir/etcd.tmp" "$dir/etcd"
fi

echo "$dir"
