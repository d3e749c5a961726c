#!/usr/bin/env bash
# Builds Traefik, the data plane of the real-traffic tests (test/traffic), from
# the Go module proxy into a cache folder keyed by version:
#   ${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}/traefik-${TRAEFIK_VERSION}/traefik
# A second run with the binary present does nothing. Prints the binary's path
# on the last line.
#
# Traefik cannot be `go install`ed (its go.mod has replace directives) and
# four of its dependencies are refused by the module proxy here, so the
# script copies the downloaded module into the cache folder and makes four
# small local changes, each explained below. Nothing of Traefik's source is
# ever written into this repository.
#
# Cold build: about 4 minutes and 3 GB of RAM; run it alone.
set -euo pipefail

TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

cache_root="${FLEDGE_CACHE:-$(go env GOCACHE)/fledge}"
dest="${cache_root}/traefik-${TRAEFIK_VERSION}"
bin="${dest}/traefik"
log() { printf '%s [build-traefik] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x "${bin}" ]]; then
  log "traefik ${TRAEFIK_VERSION} present in ${dest}"
  echo "${bin}"
  exit 0
fi

mkdir -p "${dest}"
log "downloading github.com/traefik/traefik/v3@${TRAEFIK_VERSION}"
moddir="$(cd "${dest}" && go mod download -json "github.com/traefik/traefik/v3@${TRAEFIK_VERSION}" | jq -r .Dir)"
if [[ -z "${moddir}" || "${moddir}" == null || ! -d "${moddir}" ]]; then
  echo "build-traefik: could not download traefik ${TRAEFIK_VERSION}" >&2
  exit 1
fi

# A fresh copy each time: a half-patched tree from an interrupted run must not
# be patched twice. The module cache is read-only, hence the chmod.
src="${dest}/src"
rm -rf "${src}"
cp -r "${moddir}" "${src}"
chmod -R u+w "${src}"
cd "${src}"

# Change 1: the nested module github.com/traefik/traefik/dynamic/ext lives in
# pkg/config/dynamic/ext and is wired in with a `replace => ./...`, but a
# module zip never contains nested modules, so the folder is missing.
# Recreate it: the upstream one only holds extension points that are empty
# in the open-source build.
log "change 1: recreate the nested module pkg/config/dynamic/ext"
mkdir -p pkg/config/dynamic/ext
cat > pkg/config/dynamic/ext/go.mod <<'EOF'
module github.com/traefik/traefik/dynamic/ext

go 1.24
EOF
cat > pkg/config/dynamic/ext/ext.go <<'EOF'
// Package ext holds the extension points of Traefik's dynamic
// configuration; empty in the open-source build (recreated by Fledge's
// hack/build-traefik.sh because module zips leave nested modules out).
package ext

// HTTP extends dynamic.HTTPConfiguration.
type HTTP struct{}

// Router extends dynamic.Router.
type Router struct{}

// RouterIng extends the router of an Ingress.
type RouterIng struct{}

// ToRouter converts the Ingress router extension.
func (RouterIng) ToRouter() Router { return Router{} }
EOF

# Change 2: the fork github.com/containous/go-http-auth is refused by the
# proxy. Use upstream github.com/abbot/go-http-auth v0.4.0 instead. The fork
# adds two things Traefik uses: an exported CheckSecret (given here as a small
# equivalent built on BasicAuth.CheckAuth) and DigestAuth.RequireAuthStale
# (RequireAuth is the same minus the "stale" hint to the client).
log "change 2: github.com/abbot/go-http-auth v0.4.0 instead of the containous fork"
sed -i -e '\#github.com/abbot/go-http-auth => github.com/containous/go-http-auth#d' \
  -e 's#github.com/abbot/go-http-auth v0.0.0-00010101000000-000000000000#github.com/abbot/go-http-auth v0.4.0#' go.mod
sed -i 's#goauth\.CheckSecret#checkSecret#' pkg/middlewares/auth/basic_auth.go
sed -i 's#\.RequireAuthStale(#.RequireAuth(#' pkg/middlewares/auth/digest_auth.go
cat > pkg/middlewares/auth/check_secret.go <<'EOF'
package auth

import (
	"net/http"

	goauth "github.com/abbot/go-http-auth"
)

// checkSecret reports whether password matches the htpasswd secret (bcrypt,
// MD5 crypt or SHA1), like the containous fork's goauth.CheckSecret: it asks
// upstream's BasicAuth.CheckAuth to check a request carrying the password.
func checkSecret(password, secret string) bool {
	const user = "u"
	a := &goauth.BasicAuth{Secrets: func(u, _ string) string {
		if u == user {
			return secret
		}
		return ""
	}}
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return a.CheckAuth(r) == user
}
EOF

# Change 3: the fork github.com/containous/mux is refused. Use
# github.com/gorilla/mux v1.8.1 (already the required version). The fork adds
# UseRoutingPath(), which matches on a path Traefik decodes itself and stores
# in the request context under mux.RoutingPathKey: drop the call (gorilla
# matches on the decoded URL path, which is the same for the paths used here)
# and keep the context value under a key type of Traefik's own.
log "change 3: github.com/gorilla/mux v1.8.1 instead of the containous fork"
sed -i '\#github.com/gorilla/mux => github.com/containous/mux#d' go.mod
sed -i 's#mux\.NewRouter()\.UseRoutingPath()\.NewRoute()#mux.NewRouter().NewRoute()#' pkg/muxer/http/matcher_v2.go
sed -i 's#mux\.RoutingPathKey#routingPathKey{}#g' pkg/muxer/http/mux.go
# That key was mux.go's only use of the mux package: drop the import then.
if ! grep -qE '[^a-zA-Z]mux\.' pkg/muxer/http/mux.go; then
  sed -i '\#"github.com/gorilla/mux"#d' pkg/muxer/http/mux.go
fi
cat >> pkg/muxer/http/mux.go <<'EOF'

// routingPathKey is the context key of the decoded routing path (the
// containous/mux fork exported one as RoutingPathKey).
type routingPathKey struct{}
EOF

# Change 4: github.com/go-acme/lego/v5/providers/dns imports every DNS
# provider's cloud SDK, some of which the proxy refuses. ACME is not used by
# the tests: remove the import and make the DNS-01 provider lookup fail.
log "change 4: no ACME DNS-01 providers"
sed -i '\#"github.com/go-acme/lego/v5/providers/dns"#d' pkg/provider/acme/provider.go
sed -i 's#provider, err = dns\.NewDNSChallengeProviderByName(p\.DNSChallenge\.Provider)#err = fmt.Errorf("ACME DNS-01 provider %q: not available in this build (hack/build-traefik.sh)", p.DNSChallenge.Provider)#' \
  pkg/provider/acme/provider.go

# Every change must have taken: a sed that matched nothing would otherwise
# surface as a confusing compile error, or not at all.
check() { if grep -q "$1" "$2"; then echo "build-traefik: change not applied: '$1' still in $2" >&2; exit 1; fi; }
check 'containous/go-http-auth' go.mod
check 'containous/mux' go.mod
check 'goauth.CheckSecret' pkg/middlewares/auth/basic_auth.go
check 'RequireAuthStale' pkg/middlewares/auth/digest_auth.go
check 'UseRoutingPath' pkg/muxer/http/matcher_v2.go
check 'mux.RoutingPathKey' pkg/muxer/http/mux.go
check 'lego/v5/providers/dns' pkg/provider/acme/provider.go
check 'NewDNSChallengeProviderByName' pkg/provider/acme/provider.go

log "building traefik ${TRAEFIK_VERSION} (about 4 minutes cold)"
go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION#v}" \
  -o "${bin}.tmp" ./cmd/traefik
mv "${bin}.tmp" "${bin}"
# The copied source is only needed to build; keep the cache small.
cd "${dest}"
rm -rf "${src}"
log "traefik ${TRAEFIK_VERSION} built in ${dest}"
echo "${bin}"
