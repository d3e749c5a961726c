#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the store tests: installs Debian's
# postgresql package when it is missing, initialises a data dir of its own,
# listens on 127.0.0.1 only, creates a superuser and a database, and waits
# until it answers. A second run with the server up only prints the DSN.
# Its last line on stdout is `export FLEDGE_TEST_POSTGRES_DSN=...`, so
#   eval "$(hack/start-postgres.sh | tail -n1)"
# sets up the current shell. Fast, unsafe settings (fsync=off): tests only.
#
# Settings (environment): FLEDGE_PG_PORT (55432), FLEDGE_PG_DIR
# (/var/tmp/fledge-postgres), FLEDGE_PG_USER (fledge), FLEDGE_PG_PASSWORD
# (fledge), FLEDGE_PG_DB (fledge).
set -euo pipefail

port="${FLEDGE_PG_PORT:-55432}"
base="${FLEDGE_PG_DIR:-/var/tmp/fledge-postgres}"
user="${FLEDGE_PG_USER:-fledge}"
password="${FLEDGE_PG_PASSWORD:-fledge}"
db="${FLEDGE_PG_DB:-fledge}"
data="${base}/data"
sock="${base}/run"
logfile="${base}/postgres.log"

log() { printf '%s [start-postgres] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
dsn_line() {
  echo "export FLEDGE_TEST_POSTGRES_DSN=postgres://${user}:${password}@127.0.0.1:${port}/${db}?sslmode=disable"
}

# pg_bin finds the newest installed server binaries.
pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [[ -n "${d}" && -x "${d}/initdb" && -x "${d}/pg_ctl" ]]; then
    echo "${d}"
  fi
}

bin="$(pg_bin)"
if [[ -n "${bin}" ]] && "${bin}/pg_isready" -q -h 127.0.0.1 -p "${port}"; then
  dsn_line
  exit 0
fi

if [[ -z "${bin}" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    log "PostgreSQL is not installed and this is not root: apt-get install postgresql"
    exit 1
  fi
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(pg_bin)"
  if [[ -z "${bin}" ]]; then
    log "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
    exit 1
  fi
fi

# as_pg runs a command as the postgres user when we are root (the server
# refuses to run as root), else as ourselves.
run_user="$(id -un)"
if [[ "$(id -u)" == 0 ]]; then
  run_user=postgres
  if ! id postgres >/dev/null 2>&1; then
    log "the postgres user is missing; reinstall the postgresql package"
    exit 1
  fi
fi
as_pg() {
  if [[ "${run_user}" == "$(id -un)" ]]; then
    "$@"
  else
    (cd / && runuser -u "${run_user}" -- "$@")
  fi
}

mkdir -p "${base}" "${sock}"
chown "${run_user}" "${base}" "${sock}"
chmod 700 "${base}"

if [[ ! -s "${data}/PG_VERSION" ]]; then
  log "initdb in ${data}"
  rm -rf "${data}"
  as_pg "${bin}/initdb" -D "${data}" -N -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2 ||
    as_pg "${bin}/initdb" -D "${data}" -N -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C >&2
fi

log "starting PostgreSQL ($("${bin}/postgres" --version)) on 127.0.0.1:${port}"
as_pg "${bin}/pg_ctl" -D "${data}" -l "${logfile}" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${sock} \
   -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
   -c max_connections=300 -c shared_buffers=128MB" >&2 || {
  log "pg_ctl start failed; last lines of ${logfile}:"
  tail -n 20 "${logfile}" >&2 || true
  exit 1
}

for _ in $(seq 1 60); do
  if "${bin}/pg_isready" -q -h 127.0.0.1 -p "${port}"; then break; fi
  sleep 0.5
done
"${bin}/pg_isready" -q -h 127.0.0.1 -p "${port}" || {
  log "server did not become ready; see ${logfile}"
  exit 1
}

psql_pg() { as_pg "${bin}/psql" -h "${sock}" -p "${port}" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# The test user must create and drop a database per test, hence SUPERUSER.
if [[ "$(psql_pg -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '${user}'")" != 1 ]]; then
  log "creating role ${user}"
  psql_pg -d postgres -c "CREATE ROLE \"${user}\" LOGIN SUPERUSER PASSWORD '${password}'" >&2
else
  psql_pg -d postgres -c "ALTER ROLE \"${user}\" LOGIN SUPERUSER PASSWORD '${password}'" >&2
fi
if [[ "$(psql_pg -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${db}'")" != 1 ]]; then
  log "creating database ${db}"
  psql_pg -d postgres -c "CREATE DATABASE \"${db}\" OWNER \"${user}\"" >&2
fi

log "ready"
dsn_line
