# Two entry points for a fresh machine: `make demo` (set up + run the weight-free baselines on the demo suite)
# and `make test` (set up + run the test suite). Both install what they need into .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_METHODS := oracle random spatial-prior

.PHONY: demo test install clean-runs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/partbench data generate demo
	for m in $(DEMO_METHODS); do $(BIN)/partbench run --method $$m --suite demo || exit 1; done
	$(BIN)/partbench table --suite demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

clean-runs:
	rm -rf runs
