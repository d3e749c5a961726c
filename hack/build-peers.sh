#!/usr/bin/env bash
# Builds the peer controllers the benchmarks (hack/bench) compare Fledge with,
# from the Go module proxy, into a cache folder keyed by version:
#   ${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}/peers/argo-rollouts-${ARGO_ROLLOUTS_VERSION}/rollouts-controller
#   ${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}/peers/flagger-${FLAGGER_VERSION}/flagger
# A second run with the binaries present builds nothing. Nothing of the peers'
# source is ever written into this repository.
#
# Argo Rollouts cannot be `go install`ed (its go.mod has replace directives):
# it is built inside a writable copy of the downloaded module. Flagger is
# built the same way, for one code path. Neither needs any change.
#
# Cold build: about 5 minutes for Argo Rollouts and 2.5 for Flagger, one at a
# time. Prints, on its last lines, where the binaries and the module folders
# (holding the CRDs) are, as key=value:
#   argo_rollouts_bin=...  argo_rollouts_module=...
#   flagger_bin=...        flagger_module=...
set -euo pipefail

ARGO_ROLLOUTS_VERSION="${ARGO_ROLLOUTS_VERSION:-v1.10.1}"
FLAGGER_VERSION="${FLAGGER_VERSION:-v1.36.1}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

cache_root="${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}"
peers="${cache_root}/peers"
mkdir -p "${peers}"
log() { printf '%s [build-peers] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# module_dir prints the folder of a downloaded module (read-only).
module_dir() {
  local dir
  dir="$(cd "${peers}" && go mod download -json "$1" | jq -r .Dir)"
  if [[ -z "${dir}" || "${dir}" == null || ! -d "${dir}" ]]; then
    echo "build-peers: could not download $1" >&2
    exit 1
  fi
  echo "${dir}"
}

# build NAME MODULE@VERSION PACKAGE DEST: builds PACKAGE of a fresh, writable
# copy of the module into DEST/NAME.
build() {
  local name="$1" mod="$2" pkg="$3" dest="$4" moddir
  moddir="$(module_dir "${mod}")"
  if [[ -x "${dest}/${name}" ]]; then
    log "${name} present in ${dest}"
    return
  fi
  mkdir -p "${dest}"
  # A fresh copy each time: the module cache is read-only, and a copy left
  # by an interrupted run may be incomplete.
  local src="${dest}/src"
  rm -rf "${src}"
  cp -r "${moddir}" "${src}"
  chmod -R u+w "${src}"
  log "building ${name} from ${mod}"
  local start=$SECONDS
  (cd "${src}" && go build -trimpath -ldflags "-s -w" -o "${dest}/${name}.tmp" "${pkg}")
  mv "${dest}/${name}.tmp" "${dest}/${name}"
  rm -rf "${src}"
  log "built ${name} in $((SECONDS - start))s"
}

argo_dest="${peers}/argo-rollouts-${ARGO_ROLLOUTS_VERSION}"
flagger_dest="${peers}/flagger-${FLAGGER_VERSION}"
build rollouts-controller "github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}" ./cmd/rollouts-controller "${argo_dest}"
build flagger "github.com/fluxcd/flagger@${FLAGGER_VERSION}" ./cmd/flagger "${flagger_dest}"

echo "argo_rollouts_bin=${argo_dest}/rollouts-controller"
echo "argo_rollouts_module=$(module_dir "github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}")"
echo "flagger_bin=${flagger_dest}/flagger"
echo "flagger_module=$(module_dir "github.com/fluxcd/flagger@${FLAGGER_VERSION}")"
