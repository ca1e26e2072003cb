# teamsgate: build and test.
#
#   make test    install the test dependencies (as root), vet, run every test (race detector on)
#   make build   build ./teamsgate
#   make bench   run the Go benchmarks
#   make fuzz    run each fuzz target for FUZZTIME (default 20s)
#   make diagrams  redraw docs/diagrams (the example specs' diagrams and the combined report)
#   make dist    static binaries for linux/amd64 and linux/arm64 in dist/, with SHA256SUMS
#   make image   an OCI image layout in dist/image (and dist/teamsgate-image.tar), no container daemon

GO       ?= go
FUZZTIME ?= 20s
# VERSION is what teamsgate version reports: the git description of the
# checkout, or "dev" outside one.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: test build bench fuzz deps vet diagrams dist image

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

# Static (CGO_ENABLED=0), reproducible (-trimpath) binaries; teamsgate
# version reports VERSION, the commit and the catalog's data dates.
dist:
	rm -rf dist && mkdir -p dist
	for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -buildvcs=auto \
	    -ldflags "-s -w -X github.com/teamsgate/teamsgate/internal/cli.Version=$(VERSION)" \
	    -o dist/teamsgate-linux-$$arch ./cmd/teamsgate || exit 1; \
	done
	cd dist && sha256sum teamsgate-linux-* > SHA256SUMS

# The image is assembled by scripts/image from the linux/amd64 and
# linux/arm64 binaries: no Docker, no Buildah, no daemon.
image: dist
	$(GO) run ./scripts/image -bin-amd64 dist/teamsgate-linux-amd64 -bin-arm64 dist/teamsgate-linux-arm64 -version $(VERSION) -out dist/image -tar dist/teamsgate-image.tar
