# The door to the project: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install browser promtool run test fuzz properties bench lint clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the service with its dev tools

# A few lines: pip quiet, and setuptools has nothing to say of the packages (pyproject.toml lists
# every folder, data ones too) but its one note on an editable install of a flat layout.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	@echo "installing notifier and its dev tools into $(VENV) (a minute or two the first time)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "installed: $(VENV)/bin/notifier"

# The browser tests (tests/web) drive Debian's Chromium; Playwright's own browser download is
# not used (and cannot be fetched here). Installs it once, as root or through sudo.
browser: ## install Debian's chromium for the browser tests, if it is missing
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; \
		elif command -v sudo >/dev/null; then sudo=sudo; \
		else echo "chromium is missing and this is not root: apt-get install chromium"; exit 1; fi; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# tests/e2e/test_alert_rules.py evaluates deploy/alerts.yml with promtool: Debian's, from the
# prometheus package unpacked into the virtualenv (nothing installed system-wide, no service
# started).
promtool: $(VENV)/bin/promtool ## unpack Debian's promtool into .venv for the alert rules' test

$(VENV)/bin/promtool: | $(STAMP)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; cd $$tmp; 	if ! apt-get download prometheus >/dev/null 2>&1; then 		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; 		$$sudo apt-get update -qq && apt-get download prometheus; fi; 	dpkg -x prometheus_*.deb unpacked && cp unpacked/usr/bin/promtool $(abspath $@)

run: install ## bring the whole service up on the embedded default (Ctrl-C stops it)
	$(VENV)/bin/notifier up

# what uses the session's Redis, run again on a Redis Cluster (README, "Tests")
CLUSTER_TESTS = tests/integration tests/e2e tests/drills -m "not single_server" \
	--ignore=tests/e2e/test_readme.py --ignore=tests/e2e/test_install.py \
	--ignore=tests/drills/test_drills_redis.py --ignore=tests/drills/test_drills_sentinel.py \
	--ignore=tests/drills/test_drills_cluster.py

test: install browser promtool ## run the test suite (starts its own Kafka, Redis and SMTP servers), then its Redis part on a Redis Cluster
	$(PY) -m pytest
	NOTIFIER_TEST_REDIS=cluster $(PY) -m pytest $(CLUSTER_TESTS)

fuzz: install ## the API's fuzzing, longer: 500 new examples per operation and mode (~1 h)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} FUZZ_RANDOM=1 $(PY) -m pytest -p no:cacheprovider \
		tests/integration/test_hostile.py::test_no_server_error_and_every_answer_as_documented \
		tests/security/test_raw_json.py

properties: install ## the property tests of message texts, longer: 1,000 new examples each (~2 min)
	PROPERTY_EXAMPLES=$${PROPERTY_EXAMPLES:-1000} PROPERTY_RANDOM=1 $(PY) -m pytest -p no:cacheprovider \
		-o timeout=3600 --hypothesis-show-statistics tests/properties

bench: install ## run the benchmarks and print their figures
	$(PY) bench/e2e.py
	$(PY) bench/channel_rates.py
	$(PY) bench/api_writes.py
	$(PY) bench/match_scale.py
	$(PY) bench/citywide.py
	$(PY) bench/citywide.py --redis cluster
	$(PY) bench/redis_memory.py
	$(PY) bench/migrate_rate.py

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
