#!/usr/bin/env bash
# Installs what the proxy benchmark compares against, once per machine:
# fortio v1.63.0 (the load generator) from the Go module proxy into the
# cache, and nginx and HAProxy from Debian's packages (as root). Prints the
# fortio binary's path on its last line. Without root, the nginx and HAProxy
# rows are skipped with a note.
set -euo pipefail

FORTIO_VERSION=v1.63.0
cache="${PLEXUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plexus}"
dir="$cache/tools/fortio-$FORTIO_VERSION"
log() { echo "bench-deps: $*" >&2; }

if [[ ! -x "$dir/fortio" ]]; then
  log "installing fortio $FORTIO_VERSION (once per machine)"
  GOBIN="$dir" go install "fortio.org/fortio@$FORTIO_VERSION"
fi

missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
if (( ${#missing[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  else
    log "not installing ${missing[*]}: needs root and apt-get; those rows will be skipped"
  fi
fi

echo "$dir/fortio"
