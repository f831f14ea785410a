# The README's two commands are `make run` and `make test`; each sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: run test lint typecheck install tools bench soak lock clean chart-readme monitoring mutation failover

# A virtualenv with exactly the hash-locked dev dependencies, rebuilt when the lock changes.
$(STAMP): requirements/dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

## run: serve on :8080; with no DATABASE_URL, on an embedded throwaway PostgreSQL
run: install
	$(BIN)/python -m service serve

## tools: helm 3 and 4, kubectl and checkov in .tools/ (for the chart checks)
tools:
	scripts/install-tools.sh

## chart-readme: regenerate the parameters table of helm/user-service/README.md from values.yaml
chart-readme: install
	$(BIN)/python scripts/chart_readme.py

## monitoring: regenerate the Grafana dashboard (from scripts/grafana_dashboard.py) and the plain
## rules file monitoring/user-service-rules.yaml (from the chart's PrometheusRule)
monitoring: install tools
	HELM=.tools/bin/helm $(BIN)/python scripts/render_monitoring.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## test: lint, types, then every test (container and chart tests skip without Docker/helm,
## except under CI=true, where they must run)
test: install tools lint typecheck
	$(BIN)/python -m pytest

## mutation: mutation testing (mutmut) of validation, pagination, api_keys, config and
## user_resource against tests/unit alone (docs/testing.md); a fresh run each time, then each
## module's killed/total and every mutant that survived (`.venv/bin/mutmut show <name>` shows
## one). Not part of test.
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run
	@echo "Killed per module (a timeout counts as killed):"
	@$(BIN)/mutmut results --all true | awk -F': ' ' \
		{ name = $$1; sub(/^ +/, "", name); split(name, part, "."); module = part[1] "." part[2]; \
		  total[module]++; if ($$2 == "killed" || $$2 == "timeout") killed[module]++ } \
		END { for (m in total) printf "  %-20s %4d/%-4d %5.1f%%\n", m, killed[m], total[m], \
		      100 * killed[m] / total[m] }' | sort
	@echo "Not killed:"
	@$(BIN)/mutmut results

## bench: the benchmark (docs/benchmark.md): floors, ceiling and the service in one run, a
## report with PNG charts beside it;
## BENCH_ARGS="--smoke" for the 1-minute version CI runs, "--users 1000000" for a bigger table
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

## soak: 30 minutes of mixed load at a fixed 300 req/s; the service's RSS and open fds every
## 10 s, slopes over the last 20 minutes (= make bench BENCH_ARGS=--soak); a short try:
## SOAK_ARGS="--soak-minutes 3"
soak: install
	$(BIN)/python -m bench --soak $(SOAK_ARGS)

## failover: the failover measured (tests/failover.py; needs pgbouncer): a primary SIGKILLed under
## write load, its streaming standby promoted, PgBouncer moved to it; 5 rounds each of synchronous
## and asynchronous replication, 30 s of load per round (the kill 10 s in), each round's figures
## then their min/median/max; exits 1 if a round broke a promise. A short try:
## FAILOVER_ARGS="--rounds 1 --before 4 --after 8"; see `python -m tests.failover --help`
failover: install
	$(BIN)/python -m tests.failover $(FAILOVER_ARGS)

## lock: re-resolve requirements/*.txt after changing dependencies in pyproject.toml
lock: install
	scripts/lock.sh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
