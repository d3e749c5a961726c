#!/usr/bin/env bash
# The fast loop for people working on the code: format, vet, staticcheck
# and the unit tests, with no control plane, browser or data plane (tests
# that need one are skipped with -short or left out). `make test` runs
# everything, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
start=$SECONDS

hack/lint.sh

# The packages that start a control plane, a browser or a data plane are
# test/* and internal/localcluster; internal/kube and internal/traffic/nginx
# skip their control-plane tests under -short.
heavy='fledge.dev/fledge/(test/|internal/localcluster$)'
CI= go test -short $(go list ./... | grep -Ev "${heavy}")
echo "make check: passed in $((SECONDS - start))s" >&2
