# The two commands a new user needs are `make demo` and `make test`; both
# install what is missing first.

GO ?= go
PKGS ?= ./...

.PHONY: all deps test demo bench fuzz cover clean

all: test

deps:
	@scripts/install-deps.sh
	@scripts/fetch-mysql.sh || echo "*** MySQL 9 could not be fetched: the MySQL tests will skip (PostgreSQL and MariaDB still run)."

# Every test with -race against real PostgreSQL and MariaDB clusters (and
# Oracle MySQL when scripts/fetch-mysql.sh could fetch it) that the tests
# start and stop themselves; a PostgreSQL or MariaDB server that cannot start
# fails the run.
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
