# sigprop: `make app` serves the dashboard, `make test` runs every test. Both create .venv on first use.
# Variables (override on the command line, e.g. `make app ADDRESS=0.0.0.0 PORT=5006 NUM_PROCS=4`):
#   PYTHON     interpreter used to create .venv (Python >= 3.11)          [python3]
#   PORT       port of the dashboard                                        [5006]
#   ADDRESS    address the server binds to                                  [0.0.0.0]
#   NUM_PROCS  worker processes (`panel serve --num-procs`; 0 = one per core) [1]; for a class prefer
#              one process per core behind nginx (README, docs/nginx/sigprop.conf)
#   ORIGINS    extra websocket origins allowed, space separated, e.g. "myhost.example.org:5006" or "*"
#   SERVE_ARGS extra arguments for `panel serve`
#   PYTEST_ARGS extra arguments for pytest, e.g. PYTEST_ARGS="-k maps -x"

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5006
ADDRESS ?= 0.0.0.0
NUM_PROCS ?= 1
ORIGINS ?=
SERVE_ARGS ?=
PYTEST_ARGS ?=
BUILD := build

# --warm runs the app once at start-up so the first page is fast; with several worker processes it
# would import JAX before the fork, so it is only used with one process.
WARM := $(if $(filter 1,$(NUM_PROCS)),--warm,)
ORIGIN_FLAGS := --allow-websocket-origin=localhost:$(PORT) --allow-websocket-origin=127.0.0.1:$(PORT) \
	$(foreach o,$(ORIGINS),'--allow-websocket-origin=$(o)')

NOTEBOOKS := $(wildcard notebooks/*.py)
NB_BUILD := $(BUILD)/notebooks
NB_IPYNB := $(patsubst notebooks/%.py,$(NB_BUILD)/%.ipynb,$(NOTEBOOKS))
BENCHMARKS := $(wildcard benchmarks/*.py)

# Stamps: reinstall only when pyproject.toml changes.
STAMP_APP := $(VENV)/.stamp-app
STAMP_TEST := $(VENV)/.stamp-test
STAMP_DOCS := $(VENV)/.stamp-docs
PIP := $(BIN)/python -m pip --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help app test lint notebooks bench docs clean distclean

help:
	@echo "make app      serve the dashboard on http://localhost:$(PORT) (ADDRESS, PORT, NUM_PROCS, ORIGINS)"
	@echo "make test     ruff + pytest on tests/ and the notebooks (PYTEST_ARGS)"
	@echo "make lint     ruff only"
	@echo "make bench    run every benchmarks/*.py"
	@echo "make docs     API reference from the docstrings into $(BUILD)/docs"
	@echo "make clean    remove build outputs and caches; make distclean also removes $(VENV)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "sigprop needs Python >= 3.11; '$(PYTHON)' is older (use make PYTHON=python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP_APP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	@touch $@

$(STAMP_DOCS): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[docs]'
	@touch $@

app: $(STAMP_APP)
	@echo "sigprop dashboard: http://localhost:$(PORT)/app  (Ctrl-C stops it)"
	$(BIN)/panel serve app --port $(PORT) --address $(ADDRESS) --num-procs $(NUM_PROCS) \
		$(ORIGIN_FLAGS) $(WARM) $(SERVE_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

# Notebooks are stored as jupytext py:percent files; the .ipynb are built (never committed) and executed.
$(NB_BUILD)/%.ipynb: notebooks/%.py | $(STAMP_TEST)
	@mkdir -p $(NB_BUILD)
	$(BIN)/jupytext --quiet --to ipynb --output $@ $<

notebooks: $(NB_IPYNB)

test: lint $(NB_IPYNB)
	$(BIN)/python -m pytest tests $(if $(NB_IPYNB),--nbmake --nbmake-timeout=600 $(NB_IPYNB)) $(PYTEST_ARGS)

bench: $(STAMP_TEST)
	@set -e; for f in $(BENCHMARKS); do echo "== $$f"; $(BIN)/python $$f; done

docs: $(STAMP_DOCS)
	rm -rf $(BUILD)/docs
	$(BIN)/pdoc --math --output-directory $(BUILD)/docs sigprop sigprop_app '!sigprop_app.main'
	@echo "API reference: $(BUILD)/docs/index.html"

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
