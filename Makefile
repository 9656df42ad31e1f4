# The two commands a new user needs are `make demo` and `make test`; both
# install what is missing first.

GO ?= go
PKGS ?= ./...

.PHONY: all deps servers test demo galera-demo cluster bench bench-real fuzz cover clean

# Flags for `make cluster`, e.g. CLUSTER_FLAGS='-kind mariadb -replicas 1'.
CLUSTER_FLAGS ?=

all: test

# What the tests need: PostgreSQL's and MariaDB's servers from Debian's
# packages, and Oracle MySQL 9 (fetched, best effort).
deps: servers
	@scripts/fetch-mysql.sh || echo "*** MySQL 9 could not be fetched: the MySQL tests will skip (PostgreSQL and MariaDB still run)."

# PostgreSQL's and MariaDB's servers only: what the demo and a cluster need.
servers:
	@scripts/install-deps.sh

# Every test with -race, the main module's, examples/ecosystem's (a module
# of its own: sqlx, GORM, bun, ent, goose, otelsql, sqlc over SQLDB) and
# otel's (OpenTelemetry tracing and metrics) side by side, against real PostgreSQL and MariaDB clusters (and
# Oracle MySQL when scripts/fetch-mysql.sh could fetch it) that the tests
# start and stop themselves; a PostgreSQL or MariaDB server that cannot start
# fails the run. The run gets a directory of its own (scripts/with-run-dir.sh)
# where every cluster lives and every server is recorded; at the end, or on
# Ctrl-C, scripts/cleanup.sh stops what that run left and nothing else.
# Output is a plain go test's (an "ok" line per package, every line of a
# failure), plus a progress note every 20 s while a package runs long
# (internal/cmd/testprogress).
test: deps
	$(GO) vet $(PKGS)
	cd examples/ecosystem && $(GO) vet ./...
	cd otel && $(GO) vet ./...
	SQLREPLICA_REQUIRE_SERVERS=1 GO=$(GO) PKGS='$(PKGS)' scripts/with-run-dir.sh scripts/test-modules.sh

# A throwaway PostgreSQL cluster and the demo program.
demo: servers
	scripts/with-run-dir.sh $(GO) run ./examples/demo

# A throwaway three-node MariaDB Galera cluster and the Galera demo: one
# writer, reads on the other nodes, the writer killed.
galera-demo: servers
	scripts/with-run-dir.sh $(GO) run ./examples/galera

# A cluster for development: prints its DSNs and stops cleanly on Ctrl-C.
# Built first, because `go run` does not pass SIGINT on to the program.
cluster: servers
	@case '$(CLUSTER_FLAGS)' in *mysql*) scripts/fetch-mysql.sh ;; esac
	$(GO) build -o bin/cluster ./internal/cmd/cluster
	scripts/with-run-dir.sh bin/cluster $(CLUSTER_FLAGS)

bench:
	scripts/with-run-dir.sh $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The real-server benchmarks (internal/benchreal): 64 clients on plain pools
# and through replica.DB, the position reads per write, and the replay
# polls of reads waiting for a paused replica, on a throwaway PostgreSQL
# primary with two replicas; queries counted by pg_stat_statements. Prints
# go test's lines (three runs of each: compare with benchstat) and a table
# of the medians, and draws docs/bench-real.png. About two minutes.
bench-real: servers
	@mkdir -p docs
	SQLREPLICA_REQUIRE_SERVERS=1 SQLREPLICA_BENCH_REAL=1 SQLREPLICA_BENCH_PNG=$(CURDIR)/docs/bench-real.png \
		scripts/with-run-dir.sh $(GO) test -run '^$$' -bench . -benchtime 2s -count 3 -timeout 10m ./internal/benchreal

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzClassify -fuzztime 60s ./router

# Cleans up only runs it can prove are this checkout's and abandoned: run
# directories whose marker names this checkout and whose owner process has
# exited (see scripts/cleanup.sh). Other checkouts' runs, live runs and
# hand-started clusters elsewhere are left alone.
clean:
	@scripts/cleanup.sh --abandoned
	rm -rf bin
