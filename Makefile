# teamsgate: build and test.
#
#   make test    install the test dependencies (as root), vet, run every test (race detector on)
#   make build   build ./teamsgate
#   make bench   run the Go benchmarks
#   make fuzz    run each fuzz target for FUZZTIME (default 20s)
#   make diagrams  redraw docs/diagrams (the example specs' diagrams and the combined report)

GO       ?= go
FUZZTIME ?= 20s
# VERSION is what teamsgate version reports: the git description of the
# checkout, or "dev" outside one.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: test build bench fuzz deps vet diagrams

build:
	$(GO) build -buildvcs=auto -ldflags "-X github.com/teamsgate/teamsgate/internal/cli.Version=$(VERSION)" -o teamsgate ./cmd/teamsgate

deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

# The tests compare docs/diagrams with what diagram and report write today
# and fail when it is out of date; -update rewrites it.
diagrams:
	$(GO) test ./internal/diagram ./internal/cli -run 'TestDocsDiagrams|TestDocsReport' -count=1 -update
