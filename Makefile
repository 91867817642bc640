# AMAS: `make run` starts everything on the embedded stack, `make test` runs the checks.
PYTHON ?= python3
VENV ?= venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint format browser rabbitmq libfuzzy clean-var bench bench-search help

help:
	@echo "make run    start AMAS (embedded Postgres + pgvector, Redis, daphne, worker, beat)"
	@echo "make test   install test dependencies, run ruff and pytest against real services"
	@echo "make bench  run the benchmarks in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever a lock file changes; the stamp records what is installed.
$(VENV)/.installed-runtime: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-test.lock $(VENV)/.installed-runtime
	$(BIN)/pip install --quiet -r requirements-test.lock
	touch $@

install: $(VENV)/.installed-runtime
install-test: $(VENV)/.installed-test

run: install libfuzzy
	$(BIN)/python -m amas.runner

# Forensics hashes with compiled ssdeep (Debian's libfuzzy2, ~50x faster than the pure-Python
# fallback it uses when the library is missing). Optional: without root it only says so.
libfuzzy:
	@if [ ! -e /usr/lib/x86_64-linux-gnu/libfuzzy.so.2 ] && ! ldconfig -p 2>/dev/null | grep -q libfuzzy.so.2; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing Debian's libfuzzy2 (compiled ssdeep) ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfuzzy2 >/dev/null || true; \
		else \
			echo "Note: without libfuzzy2 (sudo apt-get install libfuzzy2) fuzzy hashing uses a slower pure-Python fallback"; \
		fi; \
	fi

# Browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing Debian's chromium for the browser tests ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
		fi; \
	fi

# Event-sink tests publish to a real RabbitMQ: Debian's rabbitmq-server, started by the test session.
rabbitmq:
	@if [ ! -x /usr/sbin/rabbitmq-server ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing Debian's rabbitmq-server for the event-sink tests ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null; \
		else \
			echo "Event-sink tests need Debian's rabbitmq-server: sudo apt-get install rabbitmq-server"; exit 1; \
		fi; \
	fi

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy apps amas

test: install-test browser rabbitmq libfuzzy lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Each benchmark starts its own embedded stack and prints a table (docs/benchmarks.md keeps the
# latest figures). The 1M-vector search run takes ~20 minutes: `make bench-search SIZES=100000,1000000`.
BENCHES ?= pipeline router ops_metrics dashboard
SIZES ?= 100000
bench: install-test
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

bench-search: install-test
	$(BIN)/python bench/search.py --sizes $(SIZES)

clean-var:
	rm -rf var/
