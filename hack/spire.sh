#!/usr/bin/env bash
# Builds spire-server and spire-agent (pinned in hack/tools/spire) from the
# Go module proxy into a per-version cache, for the SPIRE integration test.
# Binaries already built are reused. Prints the directory on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${PLEXUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plexus}"
version="$(cd "$here/tools/spire" && go list -m -f '{{.Version}}' github.com/spiffe/spire)"
dir="$cache/spire/$version"
mkdir -p "$dir"
for cmd in spire-server spire-agent; do
  if [[ ! -x "$dir/$cmd" ]]; then
    echo "spire.sh: building $cmd $version from the Go module proxy (a few minutes, once per machine)" >&2
    (cd "$here/tools/spire" && go build -trimpath -ldflags "-s -w" -o "$dir/$cmd.tmp" "github.com/spiffe/spire/cmd/$cmd")
    mv "$dir/$cmd.tmp" "$dir/$cmd"
  fi
done
echo "$dir"
