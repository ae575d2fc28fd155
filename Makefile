# hf-copycot: `make demo` and `make test` work on a fresh machine with Python 3.11 and pip.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Exact, hashed versions for the development machine (Linux x86_64, CPython 3.11, CPU torch);
# `make lock` refreshes it. pyproject.toml keeps the ranges a `pip install` user gets.
LOCK   := requirements/cpu-py311.lock
UV_VERSION := 0.13.9
UV     := $(VENV)/.tools/bin/uv
# Where the CPU torch wheel is (see requirements/torch-cpu.txt).
TORCH_FIND_LINKS ?= /opt/wheels
UV_FLAGS := --find-links $(TORCH_FIND_LINKS) --constraint requirements/torch-cpu.txt
# The drift alarm's environment: newest releases, see `make test-latest`.
LATEST := .venv-latest
# Offline by default: nothing here may reach the Hugging Face Hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: install lock test-latest chromium demo test lint format metrics registry-files space bench gpu-check clean

install: $(STAMP)

# uv lives in the venv's own folder, not in the environment it manages (`uv pip sync` removes
# whatever the lock does not list). Bytecode is compiled at install: every process the tests and
# `copycot reproduce` start (workers, Ray's agents, accelerate's ranks) would otherwise compile its
# imports again where PYTHONDONTWRITEBYTECODE is set, and Ray's raylet gives its agent 15 s to start.
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --target $(VENV)/.tools uv==$(UV_VERSION)

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(PY) --require-hashes --compile-bytecode $(UV_FLAGS) $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

lock: | $(UV)
	$(UV) pip compile --quiet pyproject.toml --extra dev --extra space --upgrade --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 $(UV_FLAGS) \
	  --custom-compile-command "make lock" --output-file $(LOCK)

# The drift alarm: the compatibility tests (scan equivalence, cache contents, generate equality,
# the arena race) on the newest releases, in a separate environment; the locked one is untouched.
test-latest: chromium | $(UV)
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade $(UV_FLAGS) \
	  --override requirements/latest-overrides.txt -e ".[dev,space]"
	$(LATEST)/bin/python requirements/compare_to_lock.py $(LOCK)
	HF_HOME=$$(mktemp -d) $(LATEST)/bin/python -m pytest -q -m compat

# Debian's chromium for the Space's browser test (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

demo: install
	$(VENV)/bin/copycot demo

test: install chromium
	HF_HOME=$$(mktemp -d) $(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The helper block every eval/ metric module carries: edit eval/shared_helpers.py, then stamp the
# copies (the modules stay self-contained for the Hub; a test fails while a copy is stale).
metrics: install
	$(PY) eval/stamp_helpers.py

# What the task registry generates: the lm-eval task YAMLs and docs/FORMATS.md's task table (a test
# fails while they are stale).
registry-files: install
	$(PY) -m hf_copycot.registry_files

space: install
	$(VENV)/bin/copycot space

bench: install
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

# On a machine with a CUDA GPU (docs/GPU.md): everything GPU-side in one run, figures into
# docs/BENCHMARKS.md. It runs in GPU_PYTHON, an environment with a CUDA build of torch (.venv
# holds the CPU build); without a CUDA device it prints its plan and runs nothing on the GPU.
GPU_PYTHON ?= python3
gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_CHECK_FLAGS)

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache
