# OmniServe for Go. `make help` lists the targets.
GO       ?= go
PKGS     ?= ./...
BIN      ?= bin/omniserve
BENCHTIME ?= 3s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_/-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/omniserve
	$(GO) build -trimpath -o $(BIN) ./cmd/omniserve

.PHONY: test
test: fmt-check vet ## gofmt check, go vet, then every test with the race detector (starts or installs PostgreSQL)
	@eval "$$(bash scripts/test-services.sh)" && echo "OMNISERVE_TEST_POSTGRES_URL=$$OMNISERVE_TEST_POSTGRES_URL" && \
		$(GO) test -race -count=1 -timeout 15m $(PKGS)

.PHONY: test/services
test/services: ## Start (or install) the services the tests use and print their URLs
	@bash scripts/test-services.sh

.PHONY: test/short
test/short: ## Tests without the race detector (faster)
	$(GO) test -count=1 $(PKGS)

.PHONY: vet
vet: ## go vet
	$(GO) vet $(PKGS)

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: fmt-check vet ## gofmt, go vet and go mod tidy -diff
	$(GO) mod tidy -diff

.PHONY: generate
generate: ## Regenerate generated code (the Go interpreter's omniserve symbols)
	$(GO) generate $(PKGS)

.PHONY: bench
bench: ## Go benchmarks, then the /run/sync load comparison
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)
	$(GO) run ./bench/runsync

.PHONY: fuzz
fuzz: ## A short run of each fuzz target
	$(GO) test -run '^$$' -fuzz FuzzCalculate -fuzztime 20s ./internal/tool/builtin
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./internal/agentfile
	$(GO) test -run '^$$' -fuzz FuzzRunBody -fuzztime 20s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzSSEFrame -fuzztime 20s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime 20s ./internal/goagent
