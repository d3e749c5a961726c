#!/usr/bin/env bash
# Builds the pinned local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok) from the Go module
# proxy into a cache folder keyed by version. A second run with the binaries
# present does nothing. Prints the bin directory on the last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
STAGING_VERSION="${STAGING_VERSION:-v0.36.3}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

cache_root="${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}"
dest="${cache_root}/controlplane/k8s-${K8S_VERSION}-kwok-${KWOK_VERSION}"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

complete() {
  for b in "${bins[@]}"; do [[ -x "${dest}/bin/${b}" ]] || return 1; done
  [[ -s "${dest}/kwok-stages.yaml" ]]
}

if complete; then
  echo "control plane binaries present in ${dest}/bin" >&2
  echo "${dest}/bin"
  exit 0
fi

mkdir -p "${dest}/bin"
work="${cache_root}/controlplane/src-k8s-${K8S_VERSION}"
mkdir -p "${work}"
log() { printf '%s [build-controlplane] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "resolving k8s.io/kubernetes@${K8S_VERSION}"
gomod="$(cd "${work}" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | jq -r .GoMod)"

{
  echo "module fledge.local/controlplane"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  # Every ./staging replace of k8s's own go.mod becomes the published staging
  # module at the matching version; the two samples are not served and unused.
  grep -Eo 'k8s\.io/[A-Za-z0-9._/-]+ => \./staging/[A-Za-z0-9._/-]+' "${gomod}" \
    | awk '{print $1}' | sort -u \
    | grep -Ev '^k8s\.io/(sample-cli-plugin|sample-controller)$' \
    | while read -r m; do echo "	${m} => ${m} ${STAGING_VERSION}"; done
  echo ")"
} > "${work}/go.mod"

cat > "${work}/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

log "go mod tidy (downloads the wrapper module's dependencies)"
(cd "${work}" && go mod tidy)

ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${K8S_VERSION#v1.}"
  ldflags+=" -X ${p}.gitTreeState=clean"
done
ldflags="${ldflags//gitMinor=${K8S_VERSION#v1.}/gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2)}"

build() {
  local name="$1" pkg="$2"
  if [[ -x "${dest}/bin/${name}" ]]; then log "${name}: cached"; return; fi
  log "building ${name} (${pkg})"
  local start=$SECONDS
  (cd "${work}" && go build -trimpath -ldflags "${ldflags}" -o "${dest}/bin/${name}.tmp" "${pkg}")
  mv "${dest}/bin/${name}.tmp" "${dest}/bin/${name}"
  log "built ${name} in $((SECONDS - start))s"
}

build etcd go.etcd.io/etcd/server/v3
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

if [[ ! -x "${dest}/bin/kwok" ]]; then
  log "building kwok ${KWOK_VERSION}"
  start=$SECONDS
  GOBIN="${dest}/bin" GOFLAGS= go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  log "built kwok in $((SECONDS - start))s"
fi

kwokdir="$(cd "${work}" && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | jq -r .Dir)"
stages="${kwokdir}/kustomize/stage"
{
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "${stages}/${f}"
  done
} > "${dest}/kwok-stages.yaml.tmp"
mv "${dest}/kwok-stages.yaml.tmp" "${dest}/kwok-stages.yaml"

complete || { log "incomplete build in ${dest}"; exit 1; }
log "done: ${dest}/bin"
echo "${dest}/bin"
