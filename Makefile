# Plexus build. Everything a target needs is built or installed by the
# target itself and cached under $(PLEXUS_CACHE), so a fresh machine only
# needs Go 1.26.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

PLEXUS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/plexus
export PLEXUS_CACHE

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w \
	-X github.com/plexus-mesh/plexus/internal/version.version=$(VERSION) \
	-X github.com/plexus-mesh/plexus/internal/version.commit=$(COMMIT)

CONTROLLER_GEN := go tool controller-gen
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(PLEXUS_CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

# Packages controller-gen reads markers from.
GEN_PATHS := ./api/...;./controllers/...;./cmd/plexus-operator/...

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build plexus-operator, plexus-proxy and plexctl into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

.PHONY: generate
generate: ## Generate deepcopy code for the API types and Go code from .proto files.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."
	hack/protoc.sh

.PHONY: manifests
manifests: ## Generate CRDs (config/crd/bases) and RBAC (config/rbac) from markers, and the static monitoring objects (config/prometheus, config/grafana).
	$(CONTROLLER_GEN) crd rbac:roleName=plexus-operator paths="$(GEN_PATHS)" \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/render-monitoring
	hack/monitoring-crds.sh

# The OLM bundle's version (x.y.z); its images are tagged vx.y.z.
BUNDLE_VERSION ?= $(shell sed -n 's/^const Release = "\(.*\)"/\1/p' internal/install/release.go)

.PHONY: bundle
bundle: ## Generate the OLM bundle (bundle/, bundle.Dockerfile) from config/; BUNDLE_VERSION=x.y.z for another version.
	go run ./hack/bundle -version $(BUNDLE_VERSION)

IMAGE_REGISTRY ?= ghcr.io/plexus-mesh
IMAGE_TAG ?= $(VERSION)
# docker, or podman where docker is not installed; set it to choose.
CONTAINER_TOOL ?= $(or $(shell command -v docker 2>/dev/null),$(shell command -v podman 2>/dev/null))

.PHONY: images
images: ## Build the operator and proxy images (IMAGE_REGISTRY, IMAGE_TAG) with docker or podman; fails, saying so, without a container engine.
	@if [[ -z "$(CONTAINER_TOOL)" ]]; then \
	  echo "make images: no container engine: install docker or podman (or set CONTAINER_TOOL). Nothing was built." >&2; exit 1; fi
	@if ! "$(CONTAINER_TOOL)" info >/dev/null 2>&1; then \
	  echo "make images: $(CONTAINER_TOOL) is installed but its engine does not answer ('$(CONTAINER_TOOL) info' fails). Nothing was built." >&2; exit 1; fi
	for image in plexus-operator plexus-proxy; do \
	  "$(CONTAINER_TOOL)" build --target $$image --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	    -t $(IMAGE_REGISTRY)/$$image:$(IMAGE_TAG) . ; \
	done

.PHONY: docs
docs: ## Generate the reference pages in docs/reference (metrics, alerts, API) from the code and CRDs.
	go run ./hack/gen-docs

.PHONY: verify-generated
verify-generated: ## Fail when generated files are stale.
	hack/verify-generated.sh

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver and etcd for envtest (cached).
	hack/envtest-assets.sh

.PHONY: test
test: verify-generated ## Run every test, with the race detector, against a real API server.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" PLEXUS_SPIRE_BIN="$$(hack/spire.sh || true)" PLEXUS_PROMETHEUS_BIN="$$(hack/prometheus.sh)" \
	  PLEXUS_CHROMIUM="$$(hack/chromium.sh | tail -n 1 || true)" go test -race -count=1 ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (pinned) and go vet.
	go vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@echo "building golangci-lint $(GOLANGCI_LINT_VERSION) (once per machine)"
	cd hack/tools/lint && go build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: bench
bench: ## Run the Go benchmarks, the proxy comparison (docs/benchmarks.md) and the xDS scale benchmark (docs/benchmarks-control-plane.md).
	go test -run '^$$' -bench . -benchmem ./...
	PATH="$$PATH:/usr/sbin" go run ./test/bench/proxybench -fortio "$$(hack/bench-deps.sh)" -out docs/benchmarks.md
	go run ./test/bench/xdsscale -n 1000,5000 -out docs/benchmarks-control-plane.md

.PHONY: demo
demo: build ## Run a two-cluster mesh on this machine with the dashboard; Ctrl-C stops it (DEMO_FLAGS="--duration 5m --base-port 17400").
	@echo "make demo: looking for Prometheus and Alertmanager (hack/prometheus.sh; the first time without root it builds them, several minutes)"
	@prom="$$(hack/prometheus.sh | tail -n 1)" || { echo "make demo: no Prometheus; the dashboards read the proxies' metrics directly" >&2; prom=""; }; \
	  bin/plexctl demo --bin-dir bin --prometheus-dir "$$prom" $(DEMO_FLAGS)

.PHONY: clean
clean: ## Remove build output (the cache in $(PLEXUS_CACHE) is kept).
	rm -rf bin/
