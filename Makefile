# Cairn — the two commands of the Quick start are `make run` and `make test`;
# both install what they need first (scripts/deps.sh).
GO ?= go
BIN := bin

.PHONY: all deps build run test test-short vet fuzz bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...

# Build everything and run the stack on the default site (site.toml).
run: build
	scripts/run-demo.sh

# The peers cairn-bench's suites run against; the tests run each suite
# briefly against them.
BENCH_PEERS = nginx-light libnginx-mod-http-xslt-filter varnish haproxy wrk

# Every test: gofmt, vet, the Python ZODB/ZEO clients' venv (scripts/pyenv.sh),
# the whole suite with the race detector, and the frontend's without its
# event loops.
test: deps
	@scripts/deps.sh $(BENCH_PEERS)
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	scripts/pyenv.sh
	$(GO) test -race -count=1 -timeout 15m ./...
	# The frontend's tests again with its event loops off: both ways of
	# serving a plain listener pass every test.
	CAIRN_EVENT_LOOP=0 $(GO) test -count=1 -timeout 5m ./frontend/

test-short: deps
	scripts/pyenv.sh
	$(GO) test -short ./...

# Each fuzz target for a short while (FUZZTIME=5m for longer).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The side-by-side comparisons against the real peers, each writing its
# block of the README (installs nginx and wrk; the venv has ZEO).
bench: build
	@scripts/deps.sh $(BENCH_PEERS)
	@scripts/pyenv.sh
	$(BIN)/cairn-bench compare -tiers frontend,cache,balancer,transform -readme README.md
	$(BIN)/cairn-bench zeo -readme README.md
	$(BIN)/cairn-bench generator -readme README.md

clean:
	rm -rf $(BIN)
