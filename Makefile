# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,fhir,service,audit,dask,parquet,prove

.PHONY: demo test install lint typecheck pytest soak clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
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
