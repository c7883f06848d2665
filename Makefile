# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,fhir,service,audit,dask,parquet,monitor,prove,scenarios

.PHONY: demo test install prereqs lint layers typecheck pytest soak clean versions doctor

# durable-rules compiles C on install: check for Python 3.11+, a C compiler and the Python
# headers first, and say what to install, instead of failing deep inside pip.
CHECK_PREREQS = command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found: \
install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv; Fedora: dnf install \
python3; macOS: python.org or brew install python), or name one: make PYTHON=python3.12" >&2; \
exit 1; }; $(PYTHON) scripts/check_prereqs.py

# durable-rules 2.0.28 compiles on CPython 3.13+ with GCC 14 / Clang 16 only with these two
# errors turned back into warnings (gbrules.core.backends.loader.BUILD_FLAGS, docs/PYTHON.md).
DURABLE_CPPFLAGS := -Wno-error=implicit-function-declaration -Wno-error=int-conversion

prereqs:
	@$(CHECK_PREREQS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml setup.py gbrules/core/backends/_pyeval_shim.c
	@$(CHECK_PREREQS)
	$(PYTHON) -m venv $(VENV)
	CPPFLAGS="$(DURABLE_CPPFLAGS) $$CPPFLAGS" $(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(VENV)/bin/gbrules evaluate --example case1

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The layering (core < clinical < tools < io, no cycles): contracts in pyproject.toml.
layers: install
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy gbrules

pytest: install
	$(PY) -m pytest

test: lint layers typecheck pytest

# The full suite on every installed CPython 3.11-3.14, one venv each (nox; absent ones are
# skipped with a notice). `.ci/run` runs the lean `fast` session on the non-default ones.
versions: install
	$(VENV)/bin/nox -s tests

doctor: install
	$(VENV)/bin/gbrules doctor

# The full soak (500,000 evaluations, ~4-12 min): RSS and live engine sessions, see docs/RELIABILITY.md.
soak: install
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) .nox .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache build *.egg-info
	find gbrules -name '*.so' -delete
