#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing.
set -euo pipefail
need=()
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if [[ "${FLEDGE_NEED_CHROMIUM:-1}" == 1 ]] && ! command -v chromium >/dev/null; then
  need+=(chromium)
fi
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
