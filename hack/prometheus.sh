#!/usr/bin/env bash
# Provides prometheus, promtool and alertmanager for the monitoring tests
# and the demo, and prints the directory holding them on its last line.
#
# In order of preference: a cache already filled; binaries on PATH; Debian's
# prometheus and prometheus-alertmanager packages (installed with apt-get
# when running as root); otherwise they are built from the Go module proxy
# (pinned in hack/tools/prometheus, several minutes, once per machine).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${PLEXUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plexus}"
dir="$cache/prometheus"
mkdir -p "$dir"

have() { [[ -x "$dir/prometheus" && -x "$dir/promtool" && -x "$dir/alertmanager" ]]; }
link() { # link NAME CANDIDATE...
  local name="$1"; shift
  for c in "$@"; do
    if p="$(command -v "$c" 2>/dev/null)"; then ln -sf "$p" "$dir/$name"; return 0; fi
  done
  return 1
}
from_path() {
  link prometheus prometheus && link promtool promtool && link alertmanager alertmanager prometheus-alertmanager
}

if have; then echo "$dir"; exit 0; fi
if from_path; then echo "$dir"; exit 0; fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "prometheus.sh: installing Debian's prometheus and prometheus-alertmanager (once per machine)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >&2
  fi
  # The packages' services are not wanted: the tests start their own.
  pkill -x prometheus 2>/dev/null || true
  pkill -x prometheus-alertmanager 2>/dev/null || true
  if from_path; then echo "$dir"; exit 0; fi
fi

echo "prometheus.sh: building Prometheus and Alertmanager from the Go module proxy (several minutes, once per machine)" >&2
cd "$here/tools/prometheus"
go build -trimpath -ldflags "-s -w" -o "$dir/prometheus.tmp" github.com/prometheus/prometheus/cmd/prometheus
go build -trimpath -ldflags "-s -w" -o "$dir/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool
# Alertmanager embeds its web UI (ui/app/dist), which its module does not
# ship: build a copy of the pinned module with a placeholder page instead.
# The API, which is all the tests and the demo use, is unaffected.
am_dir="$(go mod download -json github.com/prometheus/alertmanager | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
src="$(mktemp -d)"
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$am_dir/." "$src/"
chmod -R u+w "$src"
for ui in elm mantine; do
  mkdir -p "$src/ui/app/dist/$ui"
  echo '<!doctype html><title>Alertmanager</title><p>The web UI is not part of this build; the API is.' > "$src/ui/app/dist/$ui/index.html"
done
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "$dir/alertmanager.tmp" ./cmd/alertmanager)
for b in prometheus promtool alertmanager; do mv "$dir/$b.tmp" "$dir/$b"; done
echo "$dir"
