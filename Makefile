# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,fhir,service,audit,dask,parquet,monitor

.PHONY: demo test install prereqs lint typecheck pytest soak clean

# durable-rules compiles C on install: check for Python 3.11+, a C compiler and the Python
# headers first, and say what to install, instead of failing deep inside pip.
CHECK_PREREQS = command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found: \
install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv; Fedora: dnf install \
python3; macOS: python.org or brew install python), or name one: make PYTHON=python3.12" >&2; \
exit 1; }; $(PYTHON) scripts/check_prereqs.py

prereqs:
	@$(CHECK_PREREQS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	@$(CHECK_PREREQS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(VENV)/bin/gbrules evaluate --example case1

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy gbrules

pytest: install
	$(PY) -m pytest

test: lint typecheck pytest

# The full soak (500,000 evaluations, ~4-12 min): RSS and live engine sessions, see docs/RELIABILITY.md.
soak: install
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
