# Two entry points, both idempotent (a second run only re-checks what changed):
#   make demo   set up .venv/, export notebooks/churn.ipynb to pipelines/churn/, run it, verify it, package its model
#   make test   set up .venv/ and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LABEXT := jupyterlab-workbench
# Test files run in parallel processes (pytest-xdist), a file's tests together: most tests wait on
# kernels, servers and subprocesses, so two workers fit CI's two cores. TEST_WORKERS=0: serial.
TEST_WORKERS ?= 2
export PLOOMBER_STATS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
# CuPy (the [gpu] extra, pinned in requirements.lock) only where a CUDA driver is present: elsewhere
# it is 290 MB that cannot compute, and every GPU path falls back to NumPy with a warning.
CUDA_DRIVER := $(shell command -v nvidia-smi >/dev/null 2>&1 || test -e /proc/driver/nvidia && echo yes)
NO_GPU_PINS := ^(cupy-cuda12x|cuda-pathfinder)==

.PHONY: demo test install lint benchmark clean extension browser-deps container-deps prometheus-deps corpus test-lowest test-wheels test-torch

install: $(STAMP)

# uv (from PyPI) resolves and installs the pinned lock in seconds; pip would take minutes.
$(STAMP): requirements.lock pyproject.toml jupyter-config/jupyter_server_config.d/workbench.json jupyter-config/labconfig/page_config.d/workbench.json
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(if $(CUDA_DRIVER),cp requirements.lock,grep -vE '$(NO_GPU_PINS)' requirements.lock >) $(VENV)/requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python -r $(VENV)/requirements.txt
	@# the distribution was called `workbench` before (PyPI's `workbench` is another project)
	-@$(BIN)/uv pip uninstall -q --python $(BIN)/python workbench 2>/dev/null
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d $(VENV)/etc/jupyter/labconfig/page_config.d
	cp jupyter-config/jupyter_server_config.d/workbench.json $(VENV)/etc/jupyter/jupyter_server_config.d/
	cp jupyter-config/labconfig/page_config.d/workbench.json $(VENV)/etc/jupyter/labconfig/page_config.d/
	mkdir -p $(VENV)/share/jupyter/labextensions
	ln -sfn ../../../../workbench/labextension $(VENV)/share/jupyter/labextensions/$(LABEXT)
	touch $(STAMP)

demo: install
	$(BIN)/workbench export notebooks/churn.ipynb
	$(BIN)/workbench run pipelines/churn
	$(BIN)/workbench verify notebooks/churn.ipynb
	$(BIN)/workbench package pipelines/churn
	@echo "results: pipelines/churn/products/ (executed task notebooks: pipelines/churn/products/*.ipynb)"
	@echo "model:   pipelines/churn/package/ (MLflow model, Dockerfile, MODEL_CARD.md, model.onnx); serve it: .venv/bin/workbench serve churn"

test: install browser-deps container-deps prometheus-deps
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

# The lower bounds of pyproject.toml's ranges, tested: a fresh venv with the lowest versions they
# allow of Workbench's own dependencies (uv --resolution lowest-direct; what those depend on at
# their newest), then the unit tier. About a minute once uv's cache has them. CI runs it (.ci/run).
LOWEST := .venv-lowest
# pandas < 3.1.1 cannot localize to dateutil time zones with python-dateutil 4 (a pandas bug that
# tests/unit/test_products.py meets; Workbench does not need dateutil 4)
LOWEST_WITH := "python-dateutil<4"
LOWEST_SHOWN := ploomber|ploomber-engine|papermill|jupytext|nbformat|nbclient|ipykernel|pandas|numpy|pyarrow|mlflow|dvc|jupyterlab|jupyter-server|pandera|scikit-learn|dask|fsspec
test-lowest: install
	rm -rf $(LOWEST)
	$(BIN)/uv venv -q --python $(PYTHON) $(LOWEST)
	$(BIN)/uv pip install -q --python $(LOWEST)/bin/python --resolution lowest-direct -e ".[samples]" $(LOWEST_WITH)
	@# the test tools at their newest: what is installed already stays
	$(BIN)/uv pip install -q --python $(LOWEST)/bin/python -e ".[samples,test]"
	@echo "lowest versions:" $$($(BIN)/uv pip freeze --python $(LOWEST)/bin/python | grep -iE '^($(LOWEST_SHOWN))==')
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) tests/unit

# The wheel `python -m build` makes, in fresh venvs by plain pip, one per Python version, resolved
# to the newest versions the ranges allow: tests/test_wheel.py (plan/run/verify of churn, JupyterLab
# and its panel) and tests/unit inside each venv. Minutes per version. `make test` runs
# tests/test_wheel.py once (uv, Python 3.11, the lock's versions).
WHEEL_PYTHONS ?= python3.11 python3.12 python3.13
test-wheels: install browser-deps
	@set -e; for py in $(WHEEL_PYTHONS); do echo "== $$py (pip)"; \
	  WORKBENCH_WHEEL_PYTHON=$$py WORKBENCH_WHEEL_INSTALLER=pip WORKBENCH_WHEEL_RESOLVE=newest WORKBENCH_WHEEL_UNIT=1 \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider --durations=10 tests/test_wheel.py; done

# The browser tests (tests/browser/) drive Debian's chromium through Python playwright. Installed
# only when missing; `make test PYTEST_ARGS='-m "not browser"'` (or "not slow") skips them and this step.
browser-deps:
ifeq ($(findstring not browser,$(PYTEST_ARGS))$(findstring not slow,$(PYTEST_ARGS)),)
	@command -v chromium >/dev/null || test -x /usr/bin/chromium || { \
	  echo "installing chromium (apt) for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
	  { echo "error: could not install chromium; the browser tests need it (apt-get install chromium)"; exit 2; }; }
endif

# The container test (tests/test_container.py) builds the packaged model's image with Debian's
# podman (there is no Docker engine here): podman, runc and debootstrap from apt when missing, and
# `default_ulimits = []` in containers.conf, without which `podman run` fails here ("setrlimit:
# Operation not permitted"). Where nothing can be installed (no apt-get, not root and no sudo) it
# says so and the test skips. `make test PYTEST_ARGS='-m "not container"'` (or "not slow") skips both.
CONTAINERS_CONF := /etc/containers/containers.conf
container-deps:
ifeq ($(findstring not container,$(PYTEST_ARGS))$(findstring not slow,$(PYTEST_ARGS)),)
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	if [ -n "$$SUDO" ] && ! sudo -n true 2>/dev/null || ! command -v apt-get >/dev/null; then \
	  command -v podman >/dev/null || echo "warning: podman is missing and cannot be installed here (apt-get as root); tests/test_container.py will skip"; \
	  exit 0; fi; \
	if ! command -v podman >/dev/null || ! command -v runc >/dev/null || \
	   ! { command -v debootstrap || test -x /usr/sbin/debootstrap; } >/dev/null; then \
	  echo "installing podman, runc and debootstrap (apt) for the container test"; \
	  $$SUDO apt-get install -y -q podman runc debootstrap >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q podman runc debootstrap >/dev/null; } || \
	  { echo "error: could not install podman runc debootstrap (apt-get); the container test needs them"; exit 2; }; \
	fi; \
	if ! grep -qs '^[[:space:]]*default_ulimits' $(CONTAINERS_CONF); then \
	  echo "setting default_ulimits = [] in $(CONTAINERS_CONF) (podman run cannot set rlimits here)"; \
	  $$SUDO mkdir -p $(dir $(CONTAINERS_CONF)); \
	  if grep -qs '^\[containers\]' $(CONTAINERS_CONF); then \
	    $$SUDO sed -i '/^\[containers\]/a default_ulimits = []' $(CONTAINERS_CONF); \
	  else printf '[containers]\ndefault_ulimits = []\n' | $$SUDO tee -a $(CONTAINERS_CONF) >/dev/null; fi; \
	fi
endif

# tests/test_prometheus.py runs Debian's prometheus and alertmanager against `workbench serve`.
# Installed only when missing, like the browser; skipped with "not slow" in PYTEST_ARGS.
prometheus-deps:
ifeq ($(findstring not slow,$(PYTEST_ARGS)),)
	@command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing prometheus and alertmanager (apt) for tests/test_prometheus.py"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q prometheus prometheus-alertmanager >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q prometheus prometheus-alertmanager >/dev/null; } || \
	  { echo "error: could not install prometheus; tests/test_prometheus.py needs it"; exit 2; }; }
endif

# The JupyterLab extension (extension/, TypeScript) -> workbench/labextension/ (committed, so
# installing Workbench needs no node). Needs node 20 and npm; not part of `make test`.
extension/node_modules/.package-lock.json: extension/package.json extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund

extension: install extension/node_modules/.package-lock.json
	rm -rf workbench/labextension
	cd extension && PATH="$(CURDIR)/$(BIN):$$PATH" npm run build
	cd extension && npm test

# The torch tests with the real torch (the pytorch flavor, comparison by state_dict, the fit capture
# of a module). PyPI's Linux torch brings its CUDA libraries (about 5 GB), too much for .venv and
# CI, so it goes into .venv-torch, which sees .venv's packages through a .pth file. Not part of `make test`.
TORCH := .venv-torch
test-torch: install
	test -x $(TORCH)/bin/python || $(BIN)/uv venv -q --python $(BIN)/python $(TORCH)
	$(TORCH)/bin/python -c "import site; print('$(CURDIR)/$(VENV)/lib/python' + '.'.join(map(str, __import__('sys').version_info[:2])) + '/site-packages')" > $$($(TORCH)/bin/python -c "import site; print(site.getsitepackages()[0])")/workbench_venv.pth
	$(BIN)/uv pip install -q --python $(TORCH)/bin/python torch==2.15.0
	$(TORCH)/bin/python -m pytest -q -p no:cacheprovider -rs -k torch tests/test_model_capture.py tests/unit/test_compare_models.py

# A corpus nobody here wrote: sphinx-gallery examples from pinned sdists (corpus/sources.toml),
# converted, tagged, then exported, run and verified one by one. Downloads once into
# corpus/.cache/; needs PyPI. Not part of `make test` (tests/test_corpus.py runs 5 of them).
corpus: install
	$(BIN)/uv pip install -q --python $(BIN)/python -r corpus/requirements.txt
	$(BIN)/python corpus/fetch.py && $(BIN)/python corpus/run.py

lint: install
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/lint-imports --no-cache

benchmark: install
	$(BIN)/python benchmarks/plan_export.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/run_overhead.py
	$(BIN)/python benchmarks/tracking_overhead.py
	$(BIN)/python benchmarks/server_load.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/dask_overhead.py
	$(BIN)/python benchmarks/gpu.py

clean:
	rm -rf $(VENV) $(LOWEST) pipelines/*/products pipelines/*/package pipelines/*/.workbench
