# AgentLinks. `make dev` runs everything locally; `make test` runs every test.
# Both build the pinned tools they need into bin/ first (from tools/*/go.mod).

GO      ?= go
BIN     := $(CURDIR)/bin
TEMPORAL := $(BIN)/temporal
SQLC    := $(BIN)/sqlc
STRIPE_MOCK := $(BIN)/stripe-mock
TEMPORAL_SERVER := $(BIN)/temporal-server
export TEMPORAL_CLI := $(TEMPORAL)
export STRIPE_MOCK

.PHONY: all tools build dev demo test test-long fuzz chaos bench check generate check-generated fmt clean chromium wrk temporal-server prod-local

all: build

tools: $(TEMPORAL) $(SQLC) $(STRIPE_MOCK) chromium

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian's Chromium, for the browser tests of agentlinks.js.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Debian's wrk, the clicks benchmark's load generator in its own process, so
# that make bench reports each process's CPU per click (generator, API,
# PostgreSQL).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing Debian's wrk for the clicks benchmark"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }

# Temporal CLI v1.5.1 (dev server 1.29.1 with the UI), built apart from the
# app's module so that it does not pin the SDK.
$(TEMPORAL): tools/temporal/go.mod tools/temporal/go.sum
	@echo "building the Temporal CLI (v1.5.1) into bin/; the first build takes a few minutes"
	cd tools/temporal && $(GO) build -o $(TEMPORAL) github.com/temporalio/cli/cmd/temporal

$(SQLC): tools/sqlc/go.mod tools/sqlc/go.sum
	@echo "building sqlc into bin/; the first build takes a few minutes"
	cd tools/sqlc && CGO_ENABLED=1 $(GO) build -o $(SQLC) github.com/sqlc-dev/sqlc/cmd/sqlc

# stripe-mock, the Stripe API double the Stripe tests call.
$(STRIPE_MOCK): tools/stripe-mock/go.mod tools/stripe-mock/go.sum
	cd tools/stripe-mock && $(GO) build -o $(STRIPE_MOCK) github.com/stripe/stripe-mock

# The full Temporal server 1.29.1 with its SQL schema tool and the schema
# files, for the production-shape benchmarks on PostgreSQL (bench -only holds).
temporal-server: $(TEMPORAL_SERVER)

$(TEMPORAL_SERVER): tools/temporal-server/go.mod tools/temporal-server/go.sum
	@echo "building the Temporal server (v1.29.1) into bin/; the first build takes a few minutes"
	cd tools/temporal-server && $(GO) build -o $(BIN)/temporal-sql-tool go.temporal.io/server/cmd/tools/sql
	rm -rf $(BIN)/temporal-schema && cp -r "$$(cd tools/temporal-server && $(GO) list -m -f '{{.Dir}}' go.temporal.io/server)/schema" $(BIN)/temporal-schema && chmod -R u+w $(BIN)/temporal-schema && find $(BIN)/temporal-schema -name '*.go' -delete
	cd tools/temporal-server && $(GO) build -o $(TEMPORAL_SERVER) go.temporal.io/server/cmd/server

build:
	$(GO) build -o $(BIN)/agentlinks ./cmd/agentlinks

# The whole stack on this machine: creates and migrates the database on the
# local PostgreSQL, starts the Temporal dev server (UI on :8233), the API on
# :8080 and the worker. Ctrl-C stops everything.
dev: $(TEMPORAL) build
	$(BIN)/agentlinks dev

# The production shape on this machine, without Docker: the full Temporal
# server 1.29.1 on the local PostgreSQL, `agentlinks migrate`, then `api`
# (:8080) and `worker` (metrics on :8081) as separate processes, as
# docker-compose.yml runs them. Fresh databases each run; Ctrl-C stops it.
prod-local: build temporal-server
	$(GO) run ./cmd/prod-local

# The demo shop that uses agentlinks.js, for an app: make demo APP=app_… [KEY=sk_…]
# (with KEY the shop's backend reports purchases with the secret key).
demo: build
	$(BIN)/agentlinks demo --app $(APP) $(if $(KEY),--key $(KEY))

generate: $(SQLC)
	$(SQLC) generate

# Fails when db/ is not what sqlc generates from queries/ and the migrations.
check-generated: $(SQLC)
	@$(SQLC) diff || (echo "generated code in db/ is stale: run 'make generate' and commit" && exit 1)

fmt:
	gofmt -w .

# gofmt, vet and generated code; then the repository's own checks
# (internal/repocheck): no tracked file over 1 MiB outside testdata/ (build
# output stays out of git), every relative link in the Markdown resolves.
check: check-generated
	@out=$$(gofmt -l . | grep -v '^tools/'); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify >/dev/null
	$(GO) test -count=1 ./internal/repocheck

test: tools check
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=10s

# Fuzz every JSON endpoint and the Stripe webhook (no panic, no 5xx, no money
# moved by a refused request; the corpus lives in api/testdata/fuzz), and the
# click's fast body decoder and the bot matcher against encoding/json and the
# pattern they stand in for.
FUZZTIME ?= 5m
fuzz: tools
	$(GO) test -run='^$$' -fuzz=FuzzTrackEndpoints -fuzztime=$(FUZZTIME) ./api
	$(GO) test -run='^$$' -fuzz=FuzzStripeWebhook -fuzztime=$(FUZZTIME) ./api
	$(GO) test -run='^$$' -fuzz=FuzzClickBody -fuzztime=$(FUZZTIME) ./api
	$(GO) test -run='^$$' -fuzz=FuzzAgreesWithPattern -fuzztime=$(FUZZTIME) ./internal/botua

# The fault suite at length: 3000 conversions and refunds in flight through
# five rounds of SIGKILLed workers and APIs and restarted Temporal and
# PostgreSQL (make test runs a short form).
chaos: tools
	$(GO) test -count=1 -timeout 60m -v -run "MoneySurvivesCrashes|PayoutsSurviveCrashes|ClicksSurviveCrashes" ./chaos -chaos.conversions=3000 -chaos.rounds=5 -chaos.clients=32

# Benchmarks against the ceiling on this machine, in one run (BENCHMARKS.md):
# clicks (3 rounds), conversions, 100k holds on the dev server (about 85
# minutes: 35-40 of load, the 45-minute hold, the release) and dashboard reads
# (about 5-8 minutes); 92 minutes in all on 2026-11-25.
# One part: go run ./bench -only reads. The full Temporal server on PostgreSQL
# (-only holds -temporal full) needs make temporal-server.
bench: tools wrk
	$(GO) run ./bench -generator wrk

# The production shape end to end (the guide's flow through separate api and
# worker processes on the full Temporal server), then the money properties
# at length: a million refund sequences against exact rationals, and 20000
# conversions through the real activities and database.
test-long: tools build temporal-server
	$(GO) test -count=1 -timeout 10m -tags prodlocal -run 'ProductionShape' -v ./internal/prodlocal
	$(GO) test -count=1 -timeout 60m -run 'ReversalsSumExactly' ./internal/commission -commission.cases=1000000
	$(GO) test -count=1 -timeout 60m -run 'MoneyMatchesExactModel' ./activities -money.cases=20000

clean:
	rm -rf $(BIN) .data
