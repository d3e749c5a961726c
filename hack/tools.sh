#!/usr/bin/env bash
# Installs the pinned Go tools the checks use (staticcheck, gofumpt,
# govulncheck) into a cache folder keyed by version and prints that folder.
set -euo pipefail
export GOTOOLCHAIN=local
STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.7.0}"
GOFUMPT_VERSION="${GOFUMPT_VERSION:-v0.9.2}"
GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"
cache_root="${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}"
dest="${cache_root}/tools/staticcheck-${STATICCHECK_VERSION}-gofumpt-${GOFUMPT_VERSION}-govulncheck-${GOVULNCHECK_VERSION}"
if [[ ! -x "${dest}/staticcheck" ]]; then
  GOBIN="${dest}" GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" >&2
fi
if [[ ! -x "${dest}/gofumpt" ]]; then
  GOBIN="${dest}" GOFLAGS= go install "mvdan.cc/gofumpt@${GOFUMPT_VERSION}" >&2
fi
if [[ ! -x "${dest}/govulncheck" ]]; then
  GOBIN="${dest}" GOFLAGS= go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}" >&2
fi
echo "${dest}"
