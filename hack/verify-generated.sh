#!/usr/bin/env bash
# Regenerates code and manifests and fails if that changed anything, so CI
# catches a type or marker change committed without "make generate manifests
# bundle docs".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac config/prometheus config/grafana test/crds bundle bundle.Dockerfile docs/reference internal/identity/capb internal/federation/fedpb)
before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
for p in "${generated[@]}"; do
  mkdir -p "$before/$(dirname "$p")"
  [[ -e "$p" ]] && cp -r "$p" "$before/$p"
done

PLEXUS_PROTOC_OPTIONAL=1 make --no-print-directory generate manifests bundle docs >/dev/null

stale=0
for p in "${generated[@]}"; do
  if ! diff -ruN "$before/$p" "$p"; then
    stale=1
  fi
done
for mod in . hack/tools/k8s hack/tools/etcd hack/tools/lint hack/tools/proto hack/tools/spire hack/tools/prometheus; do
  if ! (cd "$mod" && go mod tidy -diff); then
    echo "verify-generated: $mod/go.mod or go.sum is not tidy: run 'go mod tidy' in $mod" >&2
    stale=1
  fi
done
if (( stale )); then
  echo "verify-generated: generated files or go.mod/go.sum were stale (see above). Regenerate with 'make generate manifests bundle docs' and 'go mod tidy', then commit." >&2
  exit 1
fi
echo "verify-generated: generated files are up to date"
