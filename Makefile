# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what is
# missing first (virtualenv, Python dependencies, the Kafka broker jars; for the tests also the
# Prometheus server), then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TIMED  := .ci/timed
DEPS   := $(VENV)/.deps-installed
JARS   := .cache/kafka/libs/.resolved
PROM   := .cache/prometheus/usr/bin/prometheus

.PHONY: all install demo test lint format kafka-jars prometheus numba-cache clean

all: test

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "sgmstream needs Python >= 3.11: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(DEPS): pyproject.toml | $(BIN)/python
	@$(TIMED) python-deps $(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

$(JARS): deploy/kafka/pom.xml
	@command -v java >/dev/null || { echo "java not found: install Java 17 (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "mvn not found: install Maven (apt-get install maven)"; exit 1; }
	@$(TIMED) kafka-jars mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.cache/kafka/libs
	@touch $@

# The Prometheus server the tests scrape the worker with: Debian's package, unpacked here (no
# root needed once the package lists are there; on a fresh machine they are fetched first).
$(PROM):
	@command -v apt-get >/dev/null || { echo "apt-get not found: unpack a Prometheus 2.x release so that $(PROM) exists"; exit 1; }
	@mkdir -p .cache/prometheus
	@$(TIMED) prometheus sh -c 'cd .cache/prometheus && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; } && dpkg-deb -x prometheus_*.deb . && rm prometheus_*.deb'

prometheus: $(PROM)

install: $(DEPS) $(JARS) numba-cache

# numba keys its on-disk cache by the file that holds a jitted function, not by the helpers it
# inlines from other files: when any model source changes, drop every cached kernel.
numba-cache:
	@sum=$$(cat $$(find models -name '*.py' | sort) | sha256sum); \
	if [ "$$sum" != "$$(cat .cache/numba-sources 2>/dev/null)" ]; then \
		find models -name '*.nbi' -delete -o -name '*.nbc' -delete; \
		mkdir -p .cache && echo "$$sum" > .cache/numba-sources; \
	fi

kafka-jars: $(JARS)

demo: install
	$(BIN)/sgmstream demo

lint: $(DEPS)
	@$(TIMED) lint sh -c '$(BIN)/ruff check . && $(BIN)/ruff format --check .'

format: $(DEPS)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# pytest exits 5 when it collects no test; make treats that, like any non-zero exit, as failure.
test: install $(PROM) lint
	@$(TIMED) tests $(BIN)/pytest

clean:
	$(BIN)/sgmstream kafka down 2>/dev/null || true
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .hypothesis
