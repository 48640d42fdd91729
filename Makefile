# Two entry points for a fresh machine: `make demo` (set up + run the baselines on the demo suite) and `make test`
# (set up + lint + run the whole test suite; CI runs exactly this). Both install what they need into .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_METHODS := oracle random spatial-prior
# PartConcepts' tiny preset, trained once on the demo train split (seen objects: the zero-shot protocol) and cached
# outside runs/ (a training directory is not a run).
PC_CKPT := checkpoints/partconcepts-tiny

.PHONY: demo test install browser clean-runs

# Everything: core, models (torch pinned to the build this machine has on disk), scale, user studies, test tools.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test]'
	touch $@

install: $(BIN)/.installed

# The user-study page is tested in Debian's chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium (or set PARTBENCH_CHROMIUM) for the browser test"; fi; }

demo: $(BIN)/.installed
	$(BIN)/partbench data generate demo
	for m in $(DEMO_METHODS); do $(BIN)/partbench run --method $$m --suite demo || exit 1; done
	$(BIN)/partbench train partconcepts --suite demo --preset tiny --output $(PC_CKPT)
	$(BIN)/partbench run --method partconcepts --suite demo --checkpoint $(PC_CKPT)
	$(BIN)/partbench table --suite demo

test: $(BIN)/.installed browser
	$(BIN)/ruff check .
	PARTBENCH_REQUIRE_ALL=1 $(BIN)/python -m pytest -q

clean-runs:
	rm -rf runs
