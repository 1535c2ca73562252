#!/usr/bin/env bash
# Generates the prometheus-operator CRDs Plexus creates objects of
# (ServiceMonitor, PodMonitor, PrometheusRule) from the pinned Go types into
# test/crds/prometheus-operator, for the envtest API server. The Go module
# carries the types but not the CRD manifests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=test/crds/prometheus-operator
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go tool controller-gen crd paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$tmp"
rm -rf "$out"
mkdir -p "$out"
for kind in servicemonitors podmonitors prometheusrules; do
  cp "$tmp/monitoring.coreos.com_$kind.yaml" "$out/"
done
