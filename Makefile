# Every set-up step lives here, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do $$p -c "import sys; assert (3,11) <= sys.version_info[:2] < (3,13)" 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bytecode demo test lint bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The package's bytecode, as a regular install writes it: the install is editable, and
# where PYTHONDONTWRITEBYTECODE is set Python would compile every module again at each
# command (0.1 s of each run). Files already up to date are skipped.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q pricing cli.py

install: bytecode

demo: bytecode
	$(BIN)/python -m pricing.demo

test: bytecode
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .

lint: $(STAMP)
	$(BIN)/ruff check .

bench: bytecode
	$(BIN)/python benchmarks/run.py --repeat 3 --cluster local:2 --cold 5
	$(BIN)/python benchmarks/run.py --lines 5000000 --skip-rete
	$(BIN)/python benchmarks/run.py --enterprises 1000000 --lines 5000000 --skip-rete --cold 5
	$(BIN)/python benchmarks/stream_bench.py

# Headless Chromium and a CJK font for the report's browser test (Debian packages, root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk)

clean:
	rm -rf $(VENV) build *.egg-info demo-output
