# Fledge: run `make help` for the targets.
SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

.PHONY: help demo test build controlplane cluster-up cluster-down bench

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## Build everything and run the canary walkthrough on a local control plane
	hack/demo.sh $(DEMO_FLAGS)

test: ## Quality gates and every test (installs and builds what is missing)
	hack/test.sh

build: ## Build the fledge binary into bin/
	go build -trimpath -o bin/fledge ./cmd/fledge

controlplane: ## Build the pinned local control plane binaries into the cache
	hack/build-controlplane.sh

cluster-up: build controlplane ## Start a local control plane in the background
	bin/fledge dev cluster up

cluster-down: build ## Stop the local control plane
	bin/fledge dev cluster down

bench: controlplane ## Benchmarks vs Argo Rollouts, Flagger, kubectl and the API-call floor (~25 min; writes BENCHMARKS.md)
	go run ./hack/bench $(BENCH_FLAGS)
