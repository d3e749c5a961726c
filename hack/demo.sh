#!/usr/bin/env bash
# The canary walkthrough, end to end, on a local control plane:
#   release 2.0 (approve), 2.1 (25% canary, approve), 2.2 (reject), rollback.
# Usage: hack/demo.sh [--interactive] [--keep]
#   --interactive  wait for you to approve or reject at each approval stage
#   --keep         leave the control plane and server running at the end
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
interactive=0 keep=0
for a in "$@"; do
  case "$a" in
    --interactive) interactive=1 ;;
    --keep) keep=1 ;;
    *) echo "unknown flag $a (want --interactive or --keep)" >&2; exit 2 ;;
  esac
done

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || bold='' dim='' off=''
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
say() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }

step "Preparing: Debian packages, control-plane binaries (cached after the first build), fledge"
FLEDGE_NEED_CHROMIUM=0 hack/install-deps.sh
cpbin="$(hack/build-controlplane.sh | tail -1)"
go build -trimpath -o bin/fledge ./cmd/fledge
fledge="$PWD/bin/fledge"
kubectl="${cpbin}/kubectl"

work="$(mktemp -d /tmp/fledge-demo.XXXXXX)"
cleanup() {
  if ((keep)); then
    echo "left running: server pid ${server_pid:-?}, cluster in ${work}/cluster; stop with: kill ${server_pid:-}; ${fledge} dev cluster down --dir ${work}/cluster"
    echo "talk to it as admin with: export FLEDGE_SERVER=${FLEDGE_SERVER:-} FLEDGE_TOKEN=\$(cat ${work}/admin.token)"
    return
  fi
  [[ -n "${server_pid:-}" ]] && kill "${server_pid}" 2>/dev/null && wait "${server_pid}" 2>/dev/null || true
  "${fledge}" dev cluster down --dir "${work}/cluster" >/dev/null 2>&1 || true
  rm -rf "${work}"
}
trap cleanup EXIT

step "Starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
eval "$("${fledge}" dev cluster up --dir "${work}/cluster")"
echo "KUBECONFIG=${KUBECONFIG}"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)"
export FLEDGE_SERVER="http://127.0.0.1:${port}"
step "Starting fledge serve on ${FLEDGE_SERVER} (SQLite store in ${work})"
# The server bootstraps its store with this admin token (instead of printing
# a new one); the CLI uses it through $FLEDGE_TOKEN, and a config file of
# the demo's own (your ~/.config/fledge is left alone).
printf 'fledge_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" > "${work}/admin.token"
chmod 600 "${work}/admin.token"
export FLEDGE_TOKEN="$(cat "${work}/admin.token")" FLEDGE_CONFIG="${work}/config.yaml"
"${fledge}" serve --listen "127.0.0.1:${port}" --store "${work}/fledge.db" --log-level warn \
  --bootstrap-token-file "${work}/admin.token" 2>"${work}/serve.log" &
server_pid=$!
for _ in $(seq 100); do curl -fsS "${FLEDGE_SERVER}/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "${FLEDGE_SERVER}/readyz" >/dev/null

step "Tokens: the build may start runs, people may approve (admin only)"
say "fledge token create ci-build --role deployer"
ci_token="$("${fledge}" token create ci-build --role deployer)"
say "fledge token create alice --role approver --role deployer"
alice_token="$("${fledge}" token create alice --role approver --role deployer)"
say "fledge token create bob --role approver"
bob_token="$("${fledge}" token create bob --role approver)"
"${fledge}" token list

step "Declaring the environment, the artifact and the pipeline"
mkdir -p "${work}/resources"
cp examples/webpage/{manifests.yaml,artifact.yaml,pipeline.yaml} "${work}/resources/"
sed "s#path: .*#path: ${KUBECONFIG}#" examples/webpage/environment.yaml > "${work}/resources/environment.yaml"
say "fledge apply -f resources/"
"${fledge}" apply -f "${work}/resources"
say "fledge describe pipeline webpage-canary-deployment-pipeline"
"${fledge}" describe pipeline webpage-canary-deployment-pipeline

pipeline=webpage-canary-deployment-pipeline
show() {
  for ns in ns-canary-stage ns-canary-prod; do
    say "kubectl get all,ingress -n ${ns}"
    "${kubectl}" get all,ingress -n "${ns}" 2>&1 || true
  done
  for ns in ns-canary-stage ns-canary-prod; do
    say "kubectl get ingress webpage-ingress -n ${ns} -o jsonpath='{.metadata.annotations}'"
    "${kubectl}" get ingress webpage-ingress -n "${ns}" -o json 2>/dev/null | jq -S '.metadata.annotations' || echo "No resources found in ${ns} namespace."
  done
}
status_of() { "${fledge}" get deployment "$1" -o json | jq -r .status; }
wait_status() { # id status...
  local id=$1; shift
  for _ in $(seq 600); do
    local s; s="$(status_of "$id")"
    for want in "$@"; do [[ "$s" == "$want" ]] && return 0; done
    case "$s" in Succeeded|Failed|Rejected|Cancelled) echo "deployment ${id} ended ${s}, wanted $*" >&2; "${fledge}" logs "$id" >&2; exit 1 ;; esac
    sleep 0.2
  done
  echo "deployment ${id} did not reach $* in 2 minutes" >&2; exit 1
}
release() { # tag decision
  local tag=$1 decision=$2
  say "fledge run ${pipeline} --param IMAGE_TAG=${tag}     # what the build's 'trigger deployment' step calls"
  local id; id="$("${fledge}" --token "${ci_token}" run "${pipeline}" --param "IMAGE_TAG=${tag}" -o json | jq -r .id)"
  echo "deployment/${id} created"
  wait_status "$id" WaitingForApproval
  say "fledge logs ${id}"
  "${fledge}" logs "$id"
  show
  if ((interactive)); then
    read -r -p "Approve or reject deployment ${id} (IMAGE_TAG=${tag})? [a/r] " answer </dev/tty
    [[ "$answer" == r* ]] && decision=reject || decision=approve
  fi
  if [[ "$decision" == approve ]]; then
    say "fledge approve ${id} --reason 'canary looks healthy'"
    "${fledge}" --token "${alice_token}" approve "$id" --reason "canary looks healthy"
    wait_status "$id" Succeeded
  else
    say "fledge reject ${id} --reason 'wrong colour'"
    "${fledge}" --token "${bob_token}" reject "$id" --reason "wrong colour"
    wait_status "$id" Rejected Failed
  fi
  say "fledge describe deployment ${id}"
  "${fledge}" describe deployment "$id"
  show
  last_id=$id
}

step "First release: version 2.0 (blue)"
release 2.0 approve
first=$last_id
step "Second release: version 2.1 (green): 25% of requests go to the canary until approval"
release 2.1 approve
step "Third release: version 2.2 (red), rejected at the approval stage"
release 2.2 reject

step "Deployment history"
say "fledge history ${pipeline}"
"${fledge}" history "${pipeline}"

step "Rollback to the first release (2.0): preview the change against what is live, then roll back"
say "fledge rollback ${pipeline} --to ${first} --dry-run"
"${fledge}" rollback "${pipeline}" --to "${first}" --dry-run
# A rollback changes production with no approval stage, so it needs the
# approver role unless the pipeline says otherwise (spec.rollback): the
# build's deployer token is refused, alice (approver and deployer) may.
say "fledge --token CI_TOKEN rollback ${pipeline} --to ${first} --yes   # refused: deployer only"
if "${fledge}" --token "${ci_token}" rollback "${pipeline}" --to "${first}" --yes; then
  echo "a deployer-only token rolled production back" >&2
  exit 1
fi
say "fledge --token ALICE_TOKEN rollback ${pipeline} --to ${first} --yes"
"${fledge}" --token "${alice_token}" rollback "${pipeline}" --to "${first}" --yes
rb="$("${fledge}" get deployments --pipeline "${pipeline}" -o json | jq -r '.items[0].id')"
wait_status "$rb" Succeeded
"${fledge}" logs "$rb"
show
"${fledge}" history "${pipeline}"
step "Audit log: who did what, when, from where"
say "fledge audit"
"${fledge}" audit
step "Done: production runs 2.0 again; every step above is recorded in the history and the audit log"
