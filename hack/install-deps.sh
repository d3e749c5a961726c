#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing.
set -euo pipefail
need=()
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
# ca-certificates: make image copies Debian's CA bundle into the image.
[[ -s /etc/ssl/certs/ca-certificates.crt ]] || need+=(ca-certificates)
# prometheus: the metrics test scrapes a running server with the real
# Prometheus, and promtool checks the example alert rules.
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need+=(prometheus)
if [[ "${FLEDGE_NEED_CHROMIUM:-1}" == 1 ]] && ! command -v chromium >/dev/null; then
  need+=(chromium)
fi
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
