#!/usr/bin/env bash
# Generates Go code from the repository's .proto files. protoc comes from
# Debian's protobuf-compiler package (installed here when running as root);
# protoc-gen-go and protoc-gen-go-grpc are built from the versions pinned in
# hack/tools/proto into $PLEXUS_CACHE/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${PLEXUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/plexus}/bin"

if ! command -v protoc >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    if [[ -n "${PLEXUS_PROTOC_OPTIONAL:-}" ]]; then
      # verify-generated: the generated code is committed; CI (root)
      # checks it, so a developer without protoc can still run make test.
      echo "protoc.sh: protoc is not installed; not checking the generated protobuf code (install protobuf-compiler to check it)" >&2
      exit 0
    fi
    echo "protoc.sh: protoc is not installed: run 'sudo apt-get install protobuf-compiler' (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
fi

mkdir -p "$cache"
versions="$(sha256sum hack/tools/proto/go.sum | cut -c1-12)"
bin="$cache/protoc-gen-$versions"
if [[ ! -x "$bin/protoc-gen-go" || ! -x "$bin/protoc-gen-go-grpc" ]]; then
  mkdir -p "$bin"
  (cd hack/tools/proto && GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc)
fi

while IFS= read -r -d '' proto; do
  PATH="$bin:$PATH" protoc -I . --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. "$proto"
done < <(find internal -name '*.proto' -print0 | sort -z)
