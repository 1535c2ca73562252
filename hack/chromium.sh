#!/usr/bin/env bash
# Provides a Chromium for the dashboard's browser tests and prints the path
# of its binary on its last line.
#
# In order of preference: $PLEXUS_CHROMIUM; a chromium, chromium-browser or
# google-chrome on PATH; Debian's chromium package (installed with apt-get
# when running as root). Otherwise it says what to do and exits non-zero.
set -euo pipefail

find_chromium() {
  local c p
  for c in chromium chromium-browser google-chrome google-chrome-stable; do
    if p="$(command -v "$c" 2>/dev/null)"; then echo "$p"; return 0; fi
  done
  return 1
}

if [[ -n "${PLEXUS_CHROMIUM:-}" ]]; then
  if [[ -x "$PLEXUS_CHROMIUM" ]]; then echo "$PLEXUS_CHROMIUM"; exit 0; fi
  echo "chromium.sh: PLEXUS_CHROMIUM=$PLEXUS_CHROMIUM is not an executable file" >&2
  exit 1
fi
if find_chromium; then exit 0; fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "chromium.sh: installing Debian's chromium (once per machine)" >&2
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "chromium.sh: apt-get could not install chromium (output above)" >&2
    exit 1
  fi
  if find_chromium; then exit 0; fi
fi

echo "chromium.sh: no Chromium found (looked for chromium, chromium-browser, google-chrome)." >&2
echo "chromium.sh: install Debian's chromium package (apt-get install chromium) as root," >&2
echo "chromium.sh: or set PLEXUS_CHROMIUM to a Chromium or Chrome binary." >&2
exit 1
