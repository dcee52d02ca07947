"""Workbench installed from its wheel, as a user installs it, not through `make install`.

`python -m build` makes the wheel; a fresh venv gets it from uv (in `make test`: Python 3.11, the
versions of requirements.lock, from uv's cache) or from plain pip (`make test-wheels`: 3.11, 3.12
and 3.13, the newest versions the ranges allow). Then, in that venv only: `workbench plan`, `run`
and `verify` of the churn sample; `jupyter lab` with the server extension on and Ploomber's off,
answering the REST API; the Workbench panel in headless Chromium showing churn's graph. See
tests/wheel_env.py for the knobs.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from harness import ROOT
from wheel_env import DISTRIBUTION, Choice, build_wheel, clean_env, install, run, wheel_files

pytestmark = pytest.mark.slow

CHOICE = Choice.from_env()
CHURN_TASKS = ["load", "features", "split", "train", "evaluate"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    start = time.monotonic()
    built = build_wheel(tmp_path_factory.mktemp("dist"))
    print(f"\nbuilt {built.name} in {time.monotonic() - start:.1f} s")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("wheel-venv") / "venv"
    seconds = install(wheel, where, CHOICE)
    print(f"\n{CHOICE}: installed in {seconds:.1f} s")
    return where


@pytest.fixture(scope="module")
def env(venv: Path) -> dict[str, str]:
    return clean_env(venv)


def test_the_wheel_has_the_name_the_extension_and_its_classifier(wheel: Path):
    files = wheel_files(wheel)
    meta = next(v.decode() for k, v in files.items() if k.endswith(".dist-info/METADATA"))
    assert f"Name: {DISTRIBUTION}\n" in meta
    assert "Classifier: Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt\n" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    cupy = [r for r in requires if "cupy" in r]
    assert cupy and all('extra == "gpu"' in r and "sys_platform" in r for r in cupy), cupy  # GPU: an extra
    assert not [r for r in requires if "==" in r and "extra" not in r], "pins in the wheel's dependencies"
    entry = next(v.decode() for k, v in files.items() if k.endswith(".dist-info/entry_points.txt"))
    assert "workbench = workbench.cli:main" in entry
    data = f"{DISTRIBUTION.replace('-', '_')}-0.1.0.data/data/"
    for name in ("share/jupyter/labextensions/jupyterlab-workbench/package.json",
                 "share/jupyter/labextensions/jupyterlab-workbench/install.json",
                 "etc/jupyter/jupyter_server_config.d/workbench.json",
                 "etc/jupyter/labconfig/page_config.d/workbench.json"):
        assert data + name in files, name
    assert any(k.startswith(data + "share/jupyter/labextensions/jupyterlab-workbench/static/remoteEntry.") for k in files)
    config = json.loads(files[data + "etc/jupyter/jupyter_server_config.d/workbench.json"])
    assert config["ServerApp"]["jpserver_extensions"] == {
        "workbench.server": True, "ploomber": False, "ploomber_extension": False}


def test_the_venv_has_the_command_and_the_jupyter_extensions(venv: Path, env: dict):
    assert run(["workbench", "--version"], env=env, cwd=venv).stdout.strip() == "workbench 0.1.0"
    where = run([venv / "bin" / "python", "-P", "-c", "import workbench, importlib.metadata as m; "
                 f"print(workbench.__file__); print(m.version({DISTRIBUTION!r}))"], env=env, cwd=ROOT).stdout
    assert where.splitlines()[0].startswith(str(venv)) and where.splitlines()[1] == "0.1.0", where
    def lines(*cmd) -> list[str]:
        proc = run(cmd, env=env, cwd=venv)
        return [" ".join(re.sub(r"\x1b\[[0-9;]*m", "", line).split()) for line in (proc.stdout + proc.stderr).splitlines()]

    server = lines("jupyter", "server", "extension", "list")
    for expected in ("workbench.server enabled", "ploomber disabled", "ploomber_extension disabled"):
        assert expected in server, "\n".join(server)
    lab = lines("jupyter", "labextension", "list")
    assert f"jupyterlab-workbench v0.1.0 enabled OK (python, {DISTRIBUTION})" in lab, "\n".join(lab)
    assert any(line.startswith("ploomber-extension ") and " disabled " in line for line in lab), "\n".join(lab)


def test_the_venv_plans_runs_and_verifies_churn(venv: Path, env: dict, tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "churn.ipynb", tmp_path / "notebooks" / "churn.ipynb")
    env = {**env, "WORKBENCH_TRACKING": "off"}
    timings = {}
    for step in (["plan"], ["run"], ["verify"]):
        start = time.monotonic()
        proc = run(["workbench", *step, "notebooks/churn.ipynb"], env=env, cwd=tmp_path, timeout=900)
        timings[step[0]] = round(time.monotonic() - start, 1)
        if step == ["plan"]:
            assert all(t in proc.stdout for t in CHURN_TASKS), proc.stdout
    assert "the pipeline reproduces the notebook" in proc.stdout, proc.stdout
    print(f"\nworkbench plan/run/verify in the wheel's venv: {timings} s")
    requirements = (tmp_path / "pipelines" / "churn" / "requirements.txt").read_text().split()
    assert f"{DISTRIBUTION}==0.1.0" in requirements and not any(r.startswith("workbench") for r in requirements)


@pytest.mark.skipif(not CHOICE.unit, reason="WORKBENCH_WHEEL_UNIT=1 runs the unit tier in the wheel's venv "
                    "(make test-wheels); tests/unit runs in .venv already")
def test_the_unit_tier_passes_in_the_venv(venv: Path, env: dict):
    # -P: the installed workbench, not the repo's source beside the tests; test_layers lints the
    # source tree (import-linter, with the repo's tests/lint on the path), not what was installed
    proc = run([venv / "bin" / "python", "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                "--ignore=tests/unit/test_layers.py", "tests/unit"], env=env, cwd=ROOT, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    print("\n" + proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def wheel_lab(venv: Path, env: dict, tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent / "browser"))
    from test_lab import running_lab

    base = tmp_path_factory.mktemp("wheel-lab")
    root = base / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "churn.ipynb", root / "churn.ipynb")
    with running_lab(venv / "bin" / "jupyter", base, root, env={"PATH": env["PATH"], "VIRTUAL_ENV": env["VIRTUAL_ENV"]}) as lab:
        yield lab


def test_the_server_extension_answers_and_ploomber_is_off(wheel_lab):
    def get(path: str) -> dict:
        with urllib.request.urlopen(f"{wheel_lab.url}{path}{'&' if '?' in path else '?'}token={wheel_lab.token}",
                                    timeout=120) as r:
            assert r.status == 200
            return json.loads(r.read())

    plan = get("/workbench/api/plan?path=churn.ipynb")
    assert [t["name"] for t in plan["plan"]["tasks"]] == CHURN_TASKS, str(plan)[:2000]
    assert get("/api/contents/churn.ipynb")["type"] == "notebook"  # Ploomber's contents manager is off
    assert "PloomberContentsManager" not in wheel_lab.log_text()


@pytest.mark.browser
def test_the_panel_shows_churns_graph_from_the_wheel_install(wheel_lab, tmp_path: Path):
    from test_lab import Session, _chromium, server_tracebacks

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Python playwright: make install", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-dev-shm-usage"])
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 950}).new_page()
            page.set_default_timeout(20_000)
            session = Session(page, wheel_lab)
            page.goto(wheel_lab.tree("churn.ipynb"), timeout=90_000)
            session.notebook().locator(".jp-Cell").first.wait_for(state="visible", timeout=90_000)
            page.locator('.jp-SideBar .lm-TabBar-tab[data-id="workbench-panel"]').wait_for(
                state="attached", timeout=90_000)
            session.open_panel()
            for task in CHURN_TASKS:
                session.panel.locator(f'.jp-Workbench-node[data-task="{task}"]').wait_for(timeout=30_000)
            assert session.panel.locator(".jp-Workbench-node").count() == len(CHURN_TASKS)
            page.screenshot(path=str(tmp_path / "wheel-panel.png"))
            print(f"\nscreenshot: {tmp_path / 'wheel-panel.png'}")
            assert not session.bad_responses, session.bad_responses
            assert not server_tracebacks(wheel_lab.log_text()), wheel_lab.log_text()
        finally:
            browser.close()
