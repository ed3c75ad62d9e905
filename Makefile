# Flux Operator — every target loops over MODULES; `make help` lists them.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Go 1.27 is required by the Flux API modules; the go command fetches it
# from the module proxy on first use.
export GOTOOLCHAIN := go1.27.3

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN := $(ROOT)/bin
MODULES := apis generated internal controllers reporter metrics-exporter web cli tests
# <module>/<binary> of each binary, one per line in hack/binaries (the
# Dockerfile and tests/images read it too).
BINARIES := $(shell cat $(ROOT)/hack/binaries)
# The binaries' short names (installer,reporter,exporter) for build-images -names.
empty :=
comma := ,
IMAGE_NAMES := $(subst $(empty) $(empty),$(comma),$(patsubst flux-operator-%,%,$(notdir $(BINARIES))))

# Versions of the real components the tests and the local cluster run.
# hack/versions.env is their one home; a value given to make wins.
ifndef KUBE_VERSION
KUBE_VERSION := $(shell . $(ROOT)/hack/versions.env && echo $$KUBE_VERSION)
endif
ifndef KWOK_VERSION
KWOK_VERSION := $(shell . $(ROOT)/hack/versions.env && echo $$KWOK_VERSION)
endif
ifndef FLUX_VERSION
FLUX_VERSION := $(shell . $(ROOT)/hack/versions.env && echo $$FLUX_VERSION)
endif
export KUBE_VERSION KWOK_VERSION FLUX_VERSION

# Kubernetes binaries built from Go modules, cached by version (git-ignored).
KUBE_BIN := $(BIN)/k8s/$(KUBE_VERSION)-kwok-$(KWOK_VERSION)
export KUBEBUILDER_ASSETS := $(KUBE_BIN)
export FLUX_OPERATOR_KUBE_BIN := $(KUBE_BIN)
# The real Flux controllers of the local pipeline and its Git server, built
# from Go modules, cached by Flux version (git-ignored).
export FLUX_BIN := $(BIN)/flux/$(FLUX_VERSION)
FLUX_CONTROLLERS := $(FLUX_BIN)/source-controller $(FLUX_BIN)/kustomize-controller
GITSERVER := $(BIN)/gitserver

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/fluxops/flux-operator/internal/bootstrap.version=$(VERSION)
CLI_LDFLAGS := -s -w -X github.com/fluxops/flux-operator/cli/command.version=$(VERSION)

CONTROLLER_GEN := $(BIN)/controller-gen
LABEL_CRDS := $(BIN)/label-crds
GEN_DISTRIBUTION := $(BIN)/gen-distribution
GOLANGCI_LINT := $(BIN)/golangci-lint
FLUX_CRDS_DIR := tests/testdata/crds/flux
MONITORING_CRDS_DIR := tests/testdata/crds/prometheus-operator
MONITORING_API := github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1
FLUX_API_PATHS := $(foreach m,source-controller/api kustomize-controller/api helm-controller/api notification-controller/api image-reflector-controller/api image-automation-controller/api source-watcher/api/v2,paths=github.com/fluxcd/$(m)/...)

TEST_FLAGS ?= -count=1
TEST_TIMEOUT ?= 20m

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: tools
tools: $(CONTROLLER_GEN) $(LABEL_CRDS) $(GEN_DISTRIBUTION) ## Build the pinned code generators into bin/.

$(CONTROLLER_GEN): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(LABEL_CRDS): tools/go.mod tools/go.sum $(wildcard tools/cmd/label-crds/*.go)
	cd tools && GOWORK=off go build -o $@ ./cmd/label-crds

$(GEN_DISTRIBUTION): tools/go.mod tools/go.sum $(wildcard tools/cmd/gen-distribution/*.go)
	cd tools && GOWORK=off go build -o $@ ./cmd/gen-distribution

$(GITSERVER): tools/go.mod $(wildcard tools/cmd/gitserver/*.go)
	cd tools && GOWORK=off go build -o $@ ./cmd/gitserver

# About 8 minutes and 370 MB the first time; cached by Flux version after.
$(FLUX_CONTROLLERS) &: tools/fluxcontrollers/go.mod tools/fluxcontrollers/go.sum
	cd tools/fluxcontrollers && GOWORK=off go build -trimpath -ldflags '-s -w' -o $(FLUX_BIN)/ \
		github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller

.PHONY: flux-controllers
flux-controllers: $(FLUX_CONTROLLERS) $(GITSERVER) ## Build the real source-controller and kustomize-controller of Flux $(FLUX_VERSION) (bin/flux/<version>) and the local Git server, for the local pipeline (hack/flux-controllers.sh).

# The Flux CLI of the same release, for the tests that compare the report
# with `flux stats` (hack/build-flux-cli.sh says why it builds from a copy).
$(FLUX_BIN)/flux: hack/build-flux-cli.sh hack/versions.env
	hack/build-flux-cli.sh

.PHONY: flux-cli
flux-cli: $(FLUX_BIN)/flux ## Build the Flux CLI of Flux $(FLUX_VERSION) into bin/flux/<version>/flux (about 3 minutes the first time), for the tests that compare the report with flux stats.

# golangci-lint is pinned in tools/go.mod too, but only `make lint` builds it
# (about 2 minutes the first time), not `make tools`.
$(GOLANGCI_LINT): tools/go.mod tools/go.sum
	cd tools && GOWORK=off go build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: generate
generate: tools ## Regenerate deepcopy, CRDs, RBAC, clients, listers, informers and apply-configurations.
	rm -f apis/fluxcd/v1/zz_generated.deepcopy.go
	rm -rf config/crd/bases
	rm -f config/rbac/installer/role.yaml config/rbac/reporter/role.yaml config/rbac/exporter/role.yaml config/rbac/web/role.yaml
	cd apis && $(CONTROLLER_GEN) object paths=./... \
		crd output:crd:artifacts:config=$(ROOT)/config/crd/bases
	cd controllers && $(CONTROLLER_GEN) rbac:roleName=flux-operator-installer paths=./... output:rbac:artifacts:config=$(ROOT)/config/rbac/installer
	cd reporter && $(CONTROLLER_GEN) rbac:roleName=flux-operator-reporter paths=./... output:rbac:artifacts:config=$(ROOT)/config/rbac/reporter
	cd metrics-exporter && $(CONTROLLER_GEN) rbac:roleName=flux-operator-exporter paths=./... output:rbac:artifacts:config=$(ROOT)/config/rbac/exporter
	cd web && $(CONTROLLER_GEN) rbac:roleName=flux-operator-web paths=./... output:rbac:artifacts:config=$(ROOT)/config/rbac/web
	hack/update-codegen.sh
	hack/sync-chart.sh

.PHONY: distribution
distribution: tools ## Write the Flux distribution tree the installer embeds (controllers/distribution/manifests) for every release in hack/distribution/releases.yaml.
	BIN=$(BIN) hack/distribution.sh

.PHONY: flux-crds
flux-crds: tools ## Generate the Flux CRDs (tests/testdata/crds/flux) from the Flux API Go modules.
	rm -rf $(FLUX_CRDS_DIR) && mkdir -p $(FLUX_CRDS_DIR)
	cd tools/flux/$(FLUX_VERSION) && GOWORK=off $(CONTROLLER_GEN) crd $(FLUX_API_PATHS) output:crd:artifacts:config=$(ROOT)/$(FLUX_CRDS_DIR)
	$(LABEL_CRDS) -dir $(FLUX_CRDS_DIR) -label app.kubernetes.io/part-of=flux \
		-label app.kubernetes.io/instance=flux-system -label app.kubernetes.io/version=$(FLUX_VERSION) \
		-label app.kubernetes.io/component=crds

.PHONY: monitoring-crds
monitoring-crds: tools ## Generate the ServiceMonitor and PrometheusRule CRDs (tests/testdata/crds/prometheus-operator) from the Prometheus Operator API module.
	rm -rf $(MONITORING_CRDS_DIR) && mkdir -p $(MONITORING_CRDS_DIR)/.all
	cd tools && GOWORK=off $(CONTROLLER_GEN) crd paths=$(MONITORING_API) output:crd:artifacts:config=$(ROOT)/$(MONITORING_CRDS_DIR)/.all
	mv $(MONITORING_CRDS_DIR)/.all/monitoring.coreos.com_servicemonitors.yaml $(MONITORING_CRDS_DIR)/.all/monitoring.coreos.com_prometheusrules.yaml $(MONITORING_CRDS_DIR)/
	rm -rf $(MONITORING_CRDS_DIR)/.all

.PHONY: tidy
tidy: ## Run go mod tidy in every module.
	for m in $(MODULES); do (cd $$m && go mod tidy); done
	for m in tools tools/kube tools/image tools/flux/*/; do (cd $$m && GOWORK=off go mod tidy); done
	# -e: a test-only dependency of source-controller is not served (see its go.mod).
	cd tools/fluxcontrollers && GOWORK=off go mod tidy -e

.PHONY: fmt
fmt: ## Format all Go code.
	gofmt -w $(MODULES) tools hack

.PHONY: lint
lint: fmt-check $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml: go vet, staticcheck, errcheck, revive, gci, ...) in every module and tools/, e2e files included.
	@rc=0; for m in $(MODULES); do echo ">> golangci-lint $$m"; (cd $$m && $(GOLANGCI_LINT) run --build-tags e2e ./...) || rc=1; done; \
	echo ">> golangci-lint tools"; (cd tools && GOWORK=off $(GOLANGCI_LINT) run --build-tags tools ./...) || rc=1; \
	echo ">> golangci-lint tools/image"; (cd tools/image && GOWORK=off $(GOLANGCI_LINT) run ./...) || rc=1; exit $$rc

.PHONY: fmt-check
fmt-check: ## Fail on Go files gofmt would change (modules, tools and hack).
	@out=$$(gofmt -l $(MODULES) tools hack); if [ -n "$$out" ]; then echo "gofmt needed (run: make fmt):"; echo "$$out"; exit 1; fi

.PHONY: verify
verify: tools ## Fail when generated code, CRDs, RBAC or go.mod files are stale; lint; build and unit-test every module on its own.
	hack/verify.sh
	GOWORK=off $(MAKE) --no-print-directory lint
	for m in $(MODULES); do echo ">> $$m (GOWORK=off)"; (cd $$m && GOWORK=off go build -o /dev/null ./...); done
	for m in $(filter-out tests,$(MODULES)); do (cd $$m && GOWORK=off go test $(TEST_FLAGS) ./...); done

##@ Build

.PHONY: build
build: ## Build bin/flux-operator-{installer,reporter,exporter,web} and the CLI, bin/flux-operator.
	for b in $(BINARIES); do (cd $${b%%/*} && go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$${b##*/} ./cmd/$${b##*/}) || exit 1; done
	# CGO off, as the release builds it: a static binary of half the size (with cgo, kustomize's import of
	# the plugin package keeps the linker from dropping unused code).
	cd cli && CGO_ENABLED=0 go build -trimpath -ldflags "$(CLI_LDFLAGS)" -o $(BIN)/flux-operator ./cmd/flux-operator

##@ Images

IMAGE_REPOSITORY ?= ghcr.io/fluxops/flux-operator
IMAGES_DIR ?= $(ROOT)/dist/images
RELEASE_BIN ?= $(BIN)/release
BUILD_IMAGES := $(BIN)/build-images
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every timestamp in the images is the commit's, so a rebuild gives the same digests.
CREATED ?= $(shell git log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)

$(BUILD_IMAGES): tools/image/go.mod tools/image/go.sum $(wildcard tools/image/*.go)
	cd tools/image && GOWORK=off go build -o $@ .

.PHONY: images
images: $(BUILD_IMAGES) ## Build the OCI image index of each binary (linux/amd64, linux/arm64) into dist/images, without Docker.
	for arch in amd64 arm64; do \
	  for b in $(BINARIES); do \
	    echo ">> $${b##*/} linux/$$arch"; \
	    (cd $${b%%/*} && CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags "$(LDFLAGS)" \
	      -o $(RELEASE_BIN)/linux-$$arch/$${b##*/} ./cmd/$${b##*/}) || exit 1; \
	  done; \
	done
	$(BUILD_IMAGES) -bin-dir $(RELEASE_BIN) -out $(IMAGES_DIR) -repository $(IMAGE_REPOSITORY) -names $(IMAGE_NAMES) \
	  -version $(VERSION) -revision $(REVISION) -created $(CREATED)

.PHONY: chart
chart: images ## Package the Helm chart into dist/charts, with appVersion $$VERSION and the images pinned by digest.
	rm -rf $(ROOT)/dist/charts
	$(BUILD_IMAGES) chart -chart config/charts/flux-operator -in $(IMAGES_DIR) -out $(ROOT)/dist/charts \
	  -version $(VERSION) -created $(CREATED) -repository $(IMAGE_REPOSITORY) -names $(IMAGE_NAMES)

# The platforms of the CLI's release archives.
CLI_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

# One platform after the other (the links of four in parallel were no faster
# on 2 cores). With the go build cache warm, about 5s when nothing changed and
# 15-20s when VERSION did (a new commit relinks the four); the first build for
# darwin compiles the CLI's dependencies for it once, for minutes.
.PHONY: release-cli
release-cli: $(BUILD_IMAGES) ## Cross-compile the CLI for linux and darwin on amd64 and arm64 (CLI_PLATFORMS) into bin/release and archive each as dist/flux-operator_<version>_<os>_<arch>.tar.gz.
	for p in $(CLI_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; echo ">> flux-operator $$os/$$arch"; \
	  (cd cli && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "$(CLI_LDFLAGS)" \
	    -o $(RELEASE_BIN)/$$os-$$arch/flux-operator ./cmd/flux-operator) || exit 1; \
	done
	rm -f $(ROOT)/dist/flux-operator_*.tar.gz
	$(BUILD_IMAGES) archive -bin-dir $(RELEASE_BIN) -out $(ROOT)/dist -version $(VERSION) -created $(CREATED) \
	  -platforms $(subst $(empty) $(empty),$(comma),$(CLI_PLATFORMS)) -files "$(subst $(empty) $(empty),$(comma),$(wildcard $(ROOT)/LICENSE $(ROOT)/README.md))"

.PHONY: release
release: images chart testenv release-cli ## Write dist/: the image layouts, a CycloneDX SBOM per image (dist/sbom), install.yaml (config/default with the images pinned by digest), the packaged chart (dist/charts), the CLI's archives and checksums.txt.
	rm -rf $(ROOT)/dist/overlay && mkdir -p $(ROOT)/dist/overlay
	$(BUILD_IMAGES) overlay -in $(IMAGES_DIR) -base ../../config/default -repository $(IMAGE_REPOSITORY) -names $(IMAGE_NAMES) > $(ROOT)/dist/overlay/kustomization.yaml
	$(KUBE_BIN)/kubectl kustomize $(ROOT)/dist/overlay > $(ROOT)/dist/install.yaml
	rm -rf $(ROOT)/dist/overlay
	cd $(ROOT)/dist && find install.yaml images sbom charts flux-operator_*.tar.gz -type f | LC_ALL=C sort | xargs sha256sum > checksums.txt
	@echo ">> dist/install.yaml, dist/images, dist/charts, dist/sbom, dist/flux-operator_*.tar.gz and dist/checksums.txt for $(VERSION)"

.PHONY: push
push: images chart ## Push the images to $$REGISTRY (e.g. registry.example.com/fluxops) as <name>:$$VERSION and the chart as flux-operator:<chart version>; PLAIN_HTTP=true for a plain-HTTP registry; credentials from REGISTRY_USERNAME/REGISTRY_PASSWORD or the Docker config.
	@test -n "$(REGISTRY)" || { echo "set REGISTRY, e.g. make push REGISTRY=registry.example.com/fluxops"; exit 1; }
	$(BUILD_IMAGES) push -in $(IMAGES_DIR) -registry $(REGISTRY) -tag $(VERSION) -names $(IMAGE_NAMES) $(if $(filter true,$(PLAIN_HTTP)),-plain-http) \
	  -chart $$(ls $(ROOT)/dist/charts/flux-operator-*.tgz)

##@ Test

.PHONY: testenv
testenv: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and kwokctl (cached in bin/k8s).
	hack/build-kube.sh $(KUBE_BIN)

.PHONY: test
test: testenv build flux-controllers flux-cli release prometheus registry chromium ## Run all tests: unit, envtest (real kube-apiserver + etcd), the images on a real registry, and e2e on a local kwok cluster.
	for m in $(MODULES); do echo ">> go test $$m"; (cd $$m && REQUIRE_RELEASE=1 go test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...); done
	$(MAKE) test-e2e

.PHONY: prometheus
prometheus: ## Install Debian's prometheus package (promtool and server, for the exporter tests) when missing.
	hack/ensure-package.sh prometheus promtool prometheus

.PHONY: chromium
chromium: ## Install Debian's chromium package (a headless browser for the web UI's tests) when missing.
	hack/ensure-package.sh chromium chromium

.PHONY: registry
registry: ## Install Debian's docker-registry package (the CNCF Distribution registry, for the installer's artifact tests) when missing.
	hack/ensure-package.sh docker-registry docker-registry

.PHONY: test-e2e
test-e2e: testenv build flux-controllers flux-cli chromium ## Run the end-to-end tests on a local kwok cluster, the fault suite included.
	cd tests && go test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) -tags e2e ./e2e/...

.PHONY: test-faults
test-faults: testenv build ## Run only the fault suite (API server outage, CRD deleted, ...) on a local kwok cluster; see docs/reliability.md.
	cd tests && go test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) -tags e2e -run '^(TestFault|TestSecureMetrics)' ./e2e/

# The fuzzers of the parsers that take untrusted input: module, package and
# target. `go test` runs each seed corpus (and testdata/fuzz/) as a test.
FUZZ_TIME ?= 60s
FUZZ_TARGETS := controllers:./builder:FuzzBuild controllers:./distribution:FuzzExtractTarGz internal:./fluxobj:FuzzSafeURL

.PHONY: fuzz
fuzz: ## Run each fuzzer (FluxInstance build, artifact extractor, URL scrubber) for FUZZ_TIME (default 60s); a crasher is written to the package's testdata/fuzz/.
	for t in $(FUZZ_TARGETS); do IFS=: read -r mod pkg target <<< "$$t"; \
	  echo ">> $$target ($$mod/$$pkg, $(FUZZ_TIME))"; \
	  (cd $$mod && go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZ_TIME) $$pkg) || exit 1; \
	done

BENCH_SIZES ?= 1200,12000,50000
export BENCH_SIZES

.PHONY: bench
bench: testenv build ## Benchmark the installer's build and reconcile, the reporter and the exporter in process, and the two binaries as processes (memory, reports, refreshes, scrapes) at BENCH_SIZES Flux objects (default 1200,12000,50000).
	cd controllers && go test -run '^$$' -bench . -benchtime 20x ./builder/
	cd tests && go test -run '^$$' -bench . -benchtime 5x ./installer/bench/
	cd tests && go test -run '^$$' -bench . -benchtime 20x -timeout 60m ./reporter/bench/ ./exporter/bench/
	cd tests && go test -run '^$$' -bench . -benchtime 1x -timeout 60m ./scale/

##@ Run

.PHONY: cluster-up
cluster-up: testenv ## Start the local kwok cluster (kubeconfig in .cache/kubeconfig).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop and delete the local kwok cluster.
	hack/cluster.sh down

.PHONY: run
run: testenv build flux-controllers ## Run the operator against $$KUBECONFIG, or a local kwok cluster when unset.
	hack/run.sh
