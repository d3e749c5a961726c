#!/usr/bin/env bash
# The static gates shared by `make check` and `make test`: gofumpt
# formatting, build, vet (also of the fault-injection build) and
# staticcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
tools="$(hack/tools.sh | tail -1)"
unformatted="$("${tools}/gofumpt" -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))"
if [[ -n "${unformatted}" ]]; then
  echo "not gofumpt-formatted (run: ${tools}/gofumpt -w FILE):" >&2
  echo "${unformatted}" >&2
  exit 1
fi
go build ./...
go vet ./...
go vet -tags faultinject ./internal/server/
"${tools}/staticcheck" ./...
