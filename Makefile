# Fledge: run `make help` for the targets.
SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

.PHONY: help demo test check build image controlplane cluster-up cluster-down bench

# What `fledge version` reports. The build date defaults to the commit's
# time (UTC), so that the same commit builds the same binary and image.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS := -X fledge.dev/fledge/internal/version.version=$(VERSION) -X fledge.dev/fledge/internal/version.revision=$(REVISION) -X fledge.dev/fledge/internal/version.buildDate=$(BUILD_DATE)

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## Build everything and run the canary walkthrough on a local control plane
	hack/demo.sh $(DEMO_FLAGS)

test: ## Quality gates and every test (installs and builds what is missing)
	hack/test.sh

check: ## Fast loop while coding: format, vet, staticcheck, unit tests (no cluster)
	hack/check.sh

build: ## Build the fledge binary into bin/
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/fledge ./cmd/fledge

image: ## Build the container image (linux/amd64+arm64) into the OCI layout bin/image; PUSH=registry/repo:tag also pushes it
	go run ./hack/image -out bin/image -version "$(VERSION)" -revision "$(REVISION)" -date "$(BUILD_DATE)" $(if $(PUSH),-push "$(PUSH)")

controlplane: ## Build the pinned local control plane binaries into the cache
	hack/build-controlplane.sh

cluster-up: build controlplane ## Start a local control plane in the background
	bin/fledge dev cluster up

cluster-down: build ## Stop the local control plane
	bin/fledge dev cluster down

bench: controlplane ## Benchmarks vs Argo Rollouts, Flagger, kubectl and the API-call floor (~40 min; writes BENCHMARKS.md)
	go run ./hack/bench $(BENCH_FLAGS)
