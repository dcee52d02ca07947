# Two entry points, both idempotent (a second run only re-checks what changed):
#   make demo   set up .venv/, export notebooks/churn.ipynb to pipelines/churn/, run it, verify it
#   make test   set up .venv/ and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PLOOMBER_STATS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: demo test install lint benchmark clean

install: $(STAMP)

# uv (from PyPI) resolves and installs the pinned lock in seconds; pip would take minutes.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: install
	$(BIN)/workbench export notebooks/churn.ipynb
	$(BIN)/workbench run pipelines/churn
	$(BIN)/workbench verify notebooks/churn.ipynb
	@echo "results: pipelines/churn/products/ (executed task notebooks: pipelines/churn/products/*.ipynb)"

test: install
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check workbench tests benchmarks

benchmark: install
	$(BIN)/python benchmarks/plan_export.py
	$(BIN)/python benchmarks/run_overhead.py

clean:
	rm -rf $(VENV) pipelines/*/products pipelines/*/.workbench
