# The two commands a new user needs are `make demo` and `make test`; both
# install what is missing first.

GO ?= go
PKGS ?= ./...

.PHONY: all deps test demo bench fuzz cover clean

all: test

deps:
	@scripts/install-deps.sh

# Every test with -race against real PostgreSQL and MariaDB clusters that the
# tests start and stop themselves; a server that cannot start fails the run.
test: deps
	$(GO) vet $(PKGS)
	@status=0; SQLREPLICA_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 20m $(PKGS) || status=$$?; \
	scripts/cleanup.sh; exit $$status

# A throwaway PostgreSQL cluster and the demo program.
demo: deps
	$(GO) run ./examples/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzClassify -fuzztime 60s ./router

clean:
	@scripts/cleanup.sh
