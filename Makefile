# xmppkit: build, test, fuzz and benchmark targets.
# `make test` is the whole test suite (what CI runs through .ci/run).
#
# Three modules: the SDK (the root, xmppkit.dev), the examples (examples/,
# xmppkit.dev/examples: the example programs and the libraries they use,
# which never reach the SDK's dependency graph) and the side-by-side
# benchmarks (bench/). go.work joins the first two, so `go build ./...
# ./examples/...` from the root sees both; bench/ stays outside the
# workspace (GOWORK=off).
PKGS          ?= ./... ./examples/...
BENCH         := cd bench && GOWORK=off

GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK   ?= golang.org/x/vuln/cmd/govulncheck@v1.1.4
FUZZTIME      ?= 10s
TEST_TIMEOUT  ?= 12m

.PHONY: all test deps check fmt-check vet staticcheck tidy-check gotest bench-check fuzz bench run

all: test

## test: install what the tests need (as root), then every check and test.
test: deps check gotest fuzz-short bench-check units

## deps: install the servers and tools the tests run (scripts/deps.sh; root only).
deps:
	@scripts/deps.sh

check: fmt-check vet staticcheck tidy-check

## tidy-check: go.mod and go.sum of the SDK, the examples and bench/ are
## tidy (`go mod tidy -diff` prints what tidy would change, and fails on
## it), and the SDK requires nothing beyond its four dependencies.
tidy-check:
	$(GO) mod tidy -diff
	cd examples && $(GO) mod tidy -diff
	$(BENCH) $(GO) mod tidy -diff
	@extra="$$(GOWORK=off $(GO) list -m -f '{{if not .Indirect}}{{if not .Main}}{{.Path}}{{end}}{{end}}' all | grep -vxE 'mellium.im/sasl|golang.org/x/net|golang.org/x/text|github.com/google/uuid' || true)"; \
	if [ -n "$$extra" ]; then echo "the SDK module requires more than its four dependencies:"; echo "$$extra"; exit 1; fi; echo "SDK dependencies: ok"

fmt-check:
	@out="$$(gofmt -l . )"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi; echo "gofmt: ok"

vet:
	$(GO) vet $(PKGS)
	$(BENCH) $(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)
	$(BENCH) $(GO) run $(STATICCHECK) ./...

## gotest: unit, example, in-memory and integration tests, with the race detector.
gotest:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## bench-check: the side-by-side benchmark module builds and its tests pass.
bench-check:
	$(BENCH) $(GO) test -count=1 -run . -bench . -benchtime 1x ./...

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=5m),
## one at a time; each starts from its committed testdata/fuzz corpus.
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

## fuzz-short: the CI form of fuzz, FUZZTIME_SHORT (10000 executions) per target: a count, not a duration, since a duration races Go's fuzz coordinator (go.dev/issue/75804, unfixed before Go 1.27).
FUZZTIME_SHORT ?= 10000x
fuzz-short:
	@scripts/fuzz.sh $(FUZZTIME_SHORT)

## soak: steady traffic through the router for SOAK (default 60s; SOAK=10m),
## checking exactly-once in-order delivery and flat heap and goroutines.
## `make test` runs the same test for 5 s.
SOAK ?= 60s
soak:
	XMPPKIT_SOAK=$(SOAK) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 0 ./internal/hostile

## vulncheck: known vulnerabilities in the dependencies and the Go release
## (govulncheck needs its database: vuln.go.dev, or GOVULNDB=file:///path
## for an offline copy). Not part of `check`: this machine has no route to
## vuln.go.dev.
GOVULNDB ?=
vulncheck:
	$(GO) run $(GOVULNCHECK) $(if $(GOVULNDB),-db $(GOVULNDB)) $(PKGS)

## units: the examples' systemd units pass `systemd-analyze verify` and
## `systemd-analyze security` (exposure at most 1.5), and their sample
## configurations pass -check (scripts/verify-units.sh).
units:
	@scripts/verify-units.sh

.PHONY: fuzz-short soak vulncheck units

## bench: the side-by-side benchmarks (see bench/README.md): the xmppbench
## harness (echo, router, idle connections; medians of ROUNDS interleaved
## rounds, table + bench/chart.svg), then the go test benchmarks.
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -ec
bench:
	$(BENCH) $(GO) run ./cmd/xmppbench -rounds $(or $(ROUNDS),5) -svg chart.svg | tee bench.txt
	$(BENCH) $(GO) test -run '^$$' -bench . -benchmem -count 3 . | tee -a bench.txt
	$(BENCH) $(GO) test -run '^$$' -bench . -benchmem -count 1 ./harness | tee -a bench.txt

## run: the README's first command.
run:
	$(GO) run ./examples/pubsub-service
