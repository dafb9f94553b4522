# Two entry points for a fresh clone:
#   make train   creates .venv, installs requirements.txt and the project (pip install -e .)
#                and trains the cartpole
#   make test    creates .venv, installs both requirement files and the project and runs the
#                test suite (and lists its 15 slowest tests: the budget is 8 minutes on a 2-core
#                machine)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: train test test-fast mutants lint format benchmark clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The pinned requirements, then the project itself, editable and without its dependencies (the
# pins hold): agent, environment, training and tools import from any folder, no sys.path edits.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

train: $(VENV)/.runtime
	$(PY) main.py --env_name cartpole $(ARGS)

test: $(VENV)/.test
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q --durations=15 $(ARGS)

test-fast: $(VENV)/.test
	SDL_VIDEODRIVER=dummy $(PY) -m pytest -q -m "not slow" $(ARGS)

# Deliberate bugs the fast tests must catch (tests/mutants.py; about 20 minutes, not in CI).
mutants: $(VENV)/.test
	$(PY) -m tests.mutants $(ARGS)

lint: $(VENV)/.test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.test
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

benchmark: $(VENV)/.runtime
	$(PY) benchmarks/env_step.py
	$(PY) benchmarks/update_throughput.py
	$(PY) benchmarks/train_throughput.py

clean-venv:
	rm -rf $(VENV)
