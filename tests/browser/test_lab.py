"""Workbench in a real JupyterLab, driven through headless Chromium as a person would use it.

One `jupyter lab` (the venv's, configured by `make install`: the Workbench server extension on,
Ploomber's off, the prebuilt labextension linked) serves a scratch copy of churn.ipynb and a
notebook the planner rejects. Python playwright drives Debian's /usr/bin/chromium (no browser
download). The tests run in file order and share one page, as one session of a user:

  open the notebook (no server error) -> the Workbench panel shows the churn tasks as a graph ->
  tag a new cell as a task start from the command palette and see the plan change -> Export ->
  Run, every task reaches success -> Verify -> Package -> cancel a running job -> check the kernel for hidden
  state -> open a broken notebook, click its error, land on the cell.

Screenshots go to tests/browser/output/ (printed at the end). Chromium missing is a failure that
says how to install it (`make browser-deps`), never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import ROOT, SHARED

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OUTPUT = Path(__file__).resolve().parent / "output"
JUPYTER = Path(sys.executable).parent / "jupyter"
CHURN_TASKS = ["load", "features", "split", "train", "evaluate"]
NEW_CELL_CODE = 'report = {"auc": auc, "accuracy": accuracy}'
# Timeouts (ms): the first page load compiles nothing but is slow on CI's two cores.
LOAD_MS = 90_000
PLAN_MS = 20_000
RUN_MS = 240_000


def _chromium() -> str:
    found = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail(
            f"chromium not found ({found}): the browser tests need Debian's chromium. "
            "Install it with `make browser-deps` (apt-get install -y chromium), or set WORKBENCH_CHROMIUM.",
            pytrace=False,
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_tracebacks(log: str) -> list[str]:
    """The tracebacks a server log holds, less jupyter_server's own race when a page goes away while
    its kernel websocket is being accepted (`'NoneType' object has no attribute 'kernel_ws_protocol'`
    on /api/kernels/.../channels): the tests navigate and close pages while kernels start."""
    entries = re.split(r"\n(?=\[[A-Z] \d{4}-)", log)
    return [e for e in entries if "Traceback" in e
            and not ("/channels" in e and "kernel_ws_protocol" in e)]


class Lab:
    def __init__(self, root: Path, log: Path, port: int, token: str, process: subprocess.Popen) -> None:
        self.root, self.log, self.port, self.token, self.process = root, log, port, token, process
        self.url = f"http://127.0.0.1:{port}"

    def tree(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "churn.ipynb", root / "churn.ipynb")
    shutil.copy(SHARED / "bad" / "undefined_name.ipynb", root / "undefined_name.ipynb")
    with running_lab(JUPYTER, base, root) as server:
        yield server


@contextlib.contextmanager
def running_lab(jupyter: Path, base: Path, root: Path, env: dict[str, str] | None = None):
    """`jupyter` (a venv's bin/jupyter) serving `root` with a fresh config under `base`, until the
    block ends (`env`: variables to add); tests/test_wheel.py starts a venv's the wheel went into."""
    config = base / "config"  # no user settings or saved workspace leak in
    news = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no news popup over the page
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "PLOOMBER_STATS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        **(env or {}),
    }
    log = base / "jupyter.log"
    cmd = [
        str(jupyter), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(root, log, port, token, process)
    try:
        import urllib.request

        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"jupyter lab exited {process.returncode}:\n{server.log_text()}"
            try:
                with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"jupyter lab did not answer in 90 s:\n{server.log_text()}"
            time.sleep(0.3)
        yield server
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        print(f"\njupyter lab log: {log}")


class Session:
    """The browser page and what it saw: failed requests, console errors, screenshots taken."""

    def __init__(self, page, lab: Lab) -> None:
        self.page, self.lab = page, lab
        self.bad_responses: list[str] = []
        self.console_errors: list[str] = []
        self.shots: list[Path] = []
        page.on("response", self._on_response)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))

    def _on_response(self, response) -> None:
        if response.status >= 500 or ("/api/contents" in response.url and response.status >= 400):
            self.bad_responses.append(f"{response.status} {response.request.method} {response.url}")

    def shot(self, name: str) -> Path:
        if not self.shots:  # this session's screenshots only
            shutil.rmtree(OUTPUT, ignore_errors=True)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.shots.append(path)
        return path

    @property
    def panel(self):
        return self.page.locator("#workbench-panel")

    def open_panel(self) -> None:
        """The panel showing, by its command (what a user types in the palette). On a loaded machine
        the palette's Enter was once lost while JupyterLab was still restoring its layout, and the
        panel stayed hidden (its graph "resolved to hidden" for 30 s, in test_wheel): then its
        sidebar tab is clicked, as a user would."""
        self.run_command("Open Workbench Panel")
        try:
            self.panel.wait_for(state="visible", timeout=15_000)
        except Exception:  # noqa: BLE001 - the other way a user opens it; its own wait reports
            self.page.locator('.jp-SideBar .lm-TabBar-tab[data-id="workbench-panel"]').click()
            self.panel.wait_for(state="visible", timeout=30_000)

    def notebook(self):
        """The notebook in the main area that is showing."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def active_cell_index(self) -> int:
        return self.page.evaluate(
            """() => {
                const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
                return [...nb.querySelectorAll(':scope .jp-Cell')].findIndex(c => c.classList.contains('jp-mod-active'));
            }"""
        )

    def run_command(self, label: str, attempts: int = 6) -> None:
        """Run a command from the command palette (Ctrl+Shift+C), by its label.

        On a loaded machine JupyterLab may still be activating plugins (ours among them) when the
        page looks ready, and a widget activated late can close the palette: each attempt opens
        it, types the label and waits a while for the command to be listed; then tries again."""
        page = self.page
        search = page.locator("#command-palette .lm-CommandPalette-input")
        # The palette re-renders its items as commands change state: pick by keyboard, not by click.
        item = page.locator("#command-palette .lm-CommandPalette-item.lm-mod-active", has_text=label)
        for attempt in range(attempts):
            try:
                page.keyboard.press("Control+Shift+C")
                search.wait_for(state="visible", timeout=5_000)
                search.fill(label, timeout=5_000)
                item.wait_for(timeout=10_000)
                break
            except Exception:  # noqa: BLE001 - retried, then reported by the last attempt
                if attempt == attempts - 1:
                    raise
                page.keyboard.press("Escape")
        search.press("Enter")


@pytest.fixture(scope="module")
def session(lab: Lab):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Python playwright: pip install -e '.[test]' (make install)",
                    pytrace=False)
    executable = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()
        page.set_default_timeout(PLAN_MS)
        s = Session(page, lab)
        try:
            yield s
        finally:
            try:
                s.shot("last")
            except Exception:  # noqa: BLE001 - a screenshot is best effort at teardown
                pass
            print("\nscreenshots:\n" + "\n".join(f"  {p}" for p in s.shots))
            if s.console_errors:
                print("browser console errors:\n" + "\n".join(f"  {e}" for e in s.console_errors[:20]))
            context.close()
            browser.close()


def test_notebook_opens_without_server_error(session: Session, lab: Lab):
    page = session.page
    page.goto(lab.tree("churn.ipynb"), timeout=LOAD_MS)
    cells = session.notebook().locator(".jp-Cell")
    cells.first.wait_for(state="visible", timeout=LOAD_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length >= 14",
        timeout=LOAD_MS,
    )
    assert session.notebook().locator(".jp-Cell").nth(5).inner_text().find("default_rng") >= 0
    session.shot("notebook-open")
    assert not session.bad_responses, f"server errors while opening the notebook: {session.bad_responses}"
    log = lab.log_text()
    assert not server_tracebacks(log), f"the server logged a traceback:\n{log}"
    # Ploomber's server extension, which breaks the contents API, must be off.
    assert "PloomberContentsManager" not in log


def test_panel_shows_the_churn_graph(session: Session):
    # the extension has activated once its sidebar tab exists
    session.page.locator('.jp-SideBar .lm-TabBar-tab[data-id="workbench-panel"]').wait_for(
        state="attached", timeout=LOAD_MS)
    session.open_panel()
    panel = session.panel
    for task in CHURN_TASKS:
        panel.locator(f'.jp-Workbench-node[data-task="{task}"]').wait_for(timeout=PLAN_MS)
    assert panel.locator(".jp-Workbench-node").count() == len(CHURN_TASKS)
    # The graph is layered top to bottom in dependency order.
    ys = [panel.locator(f'.jp-Workbench-node[data-task="{t}"]').bounding_box()["y"] for t in CHURN_TASKS]
    assert ys == sorted(ys) and len(set(ys)) == len(ys), ys
    # Each edge says what crosses it and where it is defined (hover title).
    edge = panel.locator('.jp-Workbench-edge[data-from="split"][data-to="evaluate"]')
    assert edge.count() == 1
    title = edge.locator("title").text_content()
    assert "X_test" in title and "y_test" in title and "cell 9" in title, title
    assert panel.locator('.jp-Workbench-edge[data-from="train"][data-to="evaluate"] .jp-Workbench-edge-label').text_content() == "clf"
    # Hovering an edge spells it out under the graph.
    edge.locator(".jp-Workbench-edge-label").hover()
    info = panel.locator(".jp-Workbench-edgeinfo")
    assert "variable X_test (cell 9, line 1)" in info.text_content(), info.text_content()
    # Parameters and products with their formats.
    assert panel.locator('.jp-Workbench-param[data-param="n_estimators"]').input_value() == "100"
    assert panel.locator('[data-product="load/raw"]').count() == 1
    # Each cell is labelled with its task.
    cells = session.notebook().locator(".jp-Cell")
    assert cells.nth(5).get_attribute("data-workbench-label") == "task load"
    assert cells.nth(6).get_attribute("data-workbench-label") == "load"
    assert cells.nth(1).get_attribute("data-workbench-label") == "parameters"
    # Clicking a task selects its first cell (train's begins at its '## Train' heading, cell 10).
    panel.locator('.jp-Workbench-node[data-task="train"]').click()
    assert session.active_cell_index() == 10
    edge.locator(".jp-Workbench-edge-label").hover()
    session.shot("panel-graph")


def test_tagging_a_new_cell_changes_the_plan(session: Session):
    page = session.page
    nb = session.notebook()
    last = nb.locator(".jp-Cell").last
    last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # insert a cell below (command mode)
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length === 15"
    )
    page.keyboard.press("Enter")  # edit it
    page.keyboard.type(NEW_CELL_CODE)
    page.keyboard.press("Escape")
    assert session.active_cell_index() == 14
    session.run_command("Mark Cell as Task Start")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    name = dialog.locator("input")
    name.fill("report")
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")
    panel = session.panel
    panel.locator('.jp-Workbench-node[data-task="report"]').wait_for(timeout=PLAN_MS)
    edge = panel.locator('.jp-Workbench-edge[data-from="evaluate"][data-to="report"]')
    edge.wait_for(timeout=PLAN_MS)
    title = edge.locator("title").text_content()
    assert "auc" in title and "accuracy" in title, title
    assert panel.locator(".jp-Workbench-node").count() == len(CHURN_TASKS) + 1
    new_cell = nb.locator(".jp-Cell").nth(14)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][14]
                 ?.getAttribute('data-workbench-label') === 'task report'"""
    )
    assert new_cell.get_attribute("data-workbench-label") == "task report"
    session.shot("tagged-new-task")


def test_export(session: Session, lab: Lab):
    panel = session.panel
    panel.locator(".jp-Workbench-export").click()
    done = panel.locator(".jp-Workbench-exported", has_text="exported to")
    done.wait_for(timeout=60_000)
    assert "pipelines/churn" in done.text_content()
    pipeline = lab.root / "pipelines" / "churn"
    assert (pipeline / "pipeline.yaml").is_file()
    assert (pipeline / "tasks" / "report.py").is_file(), sorted(p.name for p in (pipeline / "tasks").iterdir())
    # Export saved the notebook first: the tag is on disk.
    assert "task:report" in (lab.root / "churn.ipynb").read_text()
    session.shot("exported")


def test_run_reaches_success_for_every_task(session: Session, lab: Lab):
    page = session.page
    panel = session.panel
    panel.locator(".jp-Workbench-run").click()
    status = panel.locator(".jp-Workbench-jobstatus")
    status.wait_for(timeout=30_000)
    # Live progress: the job is shown (and cancellable) while it runs.
    try:
        panel.locator('.jp-Workbench-jobtask[data-status="done"]').first.wait_for(timeout=RUN_MS)
        session.shot("running")
    except Exception:  # noqa: BLE001 - too fast to catch mid-run is fine
        pass
    page.wait_for_function(
        """() => { const s = document.querySelector('#workbench-panel .jp-Workbench-jobstatus');
                   return s && !['running', 'starting'].includes(s.dataset.status); }""",
        timeout=RUN_MS,
    )
    final = status.get_attribute("data-status")
    job_text = panel.locator(".jp-Workbench-job").inner_text()
    assert final == "succeeded", f"run ended {final}:\n{job_text}\n{lab.log_text()[-3000:]}"
    rows = panel.locator(".jp-Workbench-jobtask")
    statuses = {rows.nth(i).get_attribute("data-task"): rows.nth(i).get_attribute("data-status")
                for i in range(rows.count())}
    assert set(statuses) == {*CHURN_TASKS, "report"}, statuses
    assert all(s in ("done", "up to date") for s in statuses.values()), statuses
    # The graph shows the outcome too, and products have sizes now.
    for task in (*CHURN_TASKS, "report"):
        assert panel.locator(f'.jp-Workbench-node[data-task="{task}"]').get_attribute("data-status") in ("done", "up to date")
    page.wait_for_function(
        """() => [...document.querySelectorAll('#workbench-panel [data-product="load/raw"] .jp-Workbench-size')]
                 .some(td => /\\d/.test(td.textContent))"""
    )
    assert (lab.root / "pipelines" / "churn" / "products" / "report.ipynb").is_file()
    # The run is in the history, with its metrics.
    run_row = panel.locator(".jp-Workbench-runrow").first
    run_row.wait_for(timeout=30_000)
    assert "auc" in run_row.inner_text(), run_row.inner_text()
    session.shot("run-succeeded")
    # Each executed task notebook opens from the panel.
    panel.locator('.jp-Workbench-jobtask[data-task="report"] .jp-Workbench-tasknb').click()
    page.locator(".lm-TabBar-tab", has_text="report.ipynb").first.wait_for(timeout=30_000)
    # Back to the notebook for the next test.
    page.locator(".lm-TabBar-tab", has_text="churn.ipynb").first.click()


def test_verify_shows_the_comparison_table(session: Session, lab: Lab):
    page = session.page
    panel = session.panel
    panel.locator(".jp-Workbench-verify").click()
    page.wait_for_function(
        """() => { const s = document.querySelector('#workbench-panel .jp-Workbench-job .jp-Workbench-jobstatus');
                   return s && document.querySelector('#workbench-panel .jp-Workbench-job h3')?.textContent.startsWith('Verify')
                     && !['running', 'starting'].includes(s.dataset.status); }""",
        timeout=RUN_MS,
    )
    job = panel.locator(".jp-Workbench-job")
    assert job.locator(".jp-Workbench-jobstatus").get_attribute("data-status") == "succeeded", job.inner_text()
    table = job.locator(".jp-Workbench-verifytable")
    assert table.locator("th").all_text_contents()[:3] == ["variable", "task", "result"]
    rows = {r.locator("td").nth(0).text_content(): r.locator("td").nth(2).text_content()
            for r in table.locator("tr").all()[1:]}
    assert rows.get("auc") == "equal" and "clf" in rows, rows
    assert table.locator('tr[data-variable="auc"]').get_attribute("data-compared") == "value"  # not a cell's output
    assert "reproduces the notebook" in job.locator(".jp-Workbench-verifysummary").text_content()
    job.scroll_into_view_if_needed()
    session.shot("verified")


def test_package_builds_and_registers_the_model(session: Session, lab: Lab):
    page = session.page
    panel = session.panel
    panel.locator(".jp-Workbench-package").click()
    page.wait_for_function(
        """() => { const h = document.querySelector('#workbench-panel .jp-Workbench-job h3');
                   const s = document.querySelector('#workbench-panel .jp-Workbench-job .jp-Workbench-jobstatus');
                   return h && h.textContent.startsWith('Package') && s && !['running', 'starting'].includes(s.dataset.status); }""",
        timeout=RUN_MS,
    )
    job = panel.locator(".jp-Workbench-job")
    text = job.inner_text()
    assert job.locator(".jp-Workbench-jobstatus").get_attribute("data-status") == "succeeded", text
    assert re.search(r"version 1\b", text) and "MODEL_CARD.md" in text, text
    package = lab.root / "pipelines" / "churn" / "package"
    assert (package / "model" / "MLmodel").is_file() and (package / "Dockerfile").is_file()
    # the run history shows data versions
    assert re.search(r"products@[0-9a-f]{8}", panel.locator(".jp-Workbench-runrow").first.inner_text())
    job.scroll_into_view_if_needed()
    session.shot("packaged")


def test_a_running_job_can_be_cancelled(session: Session, lab: Lab):
    page = session.page
    panel = session.panel
    panel.locator(".jp-Workbench-force").check()  # rerun everything: long enough to cancel
    panel.locator(".jp-Workbench-run").click()
    cancel = panel.locator(".jp-Workbench-cancel")
    cancel.wait_for(timeout=30_000)
    # The UI stays usable while the job runs: the graph still answers.
    panel.locator('.jp-Workbench-node[data-task="load"]').click()
    running = panel.locator('.jp-Workbench-jobtask[data-status="running"]')
    running.first.wait_for(timeout=60_000)  # cancel mid-task, not before the run starts
    task = running.first.get_attribute("data-task")
    cancel.click()
    page.wait_for_function(
        """() => document.querySelector('#workbench-panel .jp-Workbench-jobstatus')?.dataset.status === 'cancelled'""",
        timeout=60_000,
    )
    statuses = panel.locator(".jp-Workbench-jobtask").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert "cancelled" in statuses and "pending" not in statuses and "running" not in statuses, statuses
    assert panel.locator(f'.jp-Workbench-jobtask[data-task="{task}"]').get_attribute("data-status") == "cancelled"
    session.shot("cancelled")
    panel.locator(".jp-Workbench-force").uncheck()


def test_hidden_state_check_from_the_panel(session: Session, lab: Lab):
    """Run a scratch cell in the notebook's kernel, delete the cell: its variable is hidden state."""
    page = session.page
    nb = session.notebook()
    count = nb.locator(".jp-Cell").count()
    nb.locator(".jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("scratch_value = 41 + 1")
    page.keyboard.press("Control+Enter")  # run it in the notebook's kernel, stay on the cell
    page.wait_for_function(
        f"""() => /\\[\\d+\\]/.test([...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')]
                 [{count}]?.querySelector('.jp-InputPrompt')?.textContent ?? '')""",
        timeout=RUN_MS,
    )
    page.keyboard.press("Escape")
    page.keyboard.press("d")
    page.keyboard.press("d")  # the cell is gone; its variable lives on in the kernel
    page.wait_for_function(
        f"() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length === {count}"
    )
    panel = session.panel
    panel.locator(".jp-Workbench-checkbutton").click()
    status = panel.locator(".jp-Workbench-checkstatus")
    status.wait_for(timeout=30_000)
    page.wait_for_function(
        """() => !['running', undefined].includes(
                   document.querySelector('#workbench-panel .jp-Workbench-checkstatus')?.dataset.status)""",
        timeout=RUN_MS,
    )
    check = panel.locator(".jp-Workbench-checkbutton")
    text = panel.locator('[data-section="check"]').inner_text()
    assert status.get_attribute("data-status") == "hidden-state", text
    row = panel.locator('.jp-Workbench-checktable tr[data-variable="scratch_value"]')
    assert row.get_attribute("data-status") == "only in the live kernel", text
    assert "HIDDEN STATE" in text, text
    assert check.is_enabled()
    panel.locator('[data-section="check"]').scroll_into_view_if_needed()
    session.shot("hidden-state")


def test_bad_notebook_error_selects_its_cell(session: Session, lab: Lab):
    page = session.page
    page.goto(lab.tree("undefined_name.ipynb"), timeout=LOAD_MS)
    page.wait_for_function(
        """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                   return p && p.querySelectorAll('.jp-Cell').length === 2
                     && document.querySelector('.jp-Workbench .jp-Workbench-path')?.textContent === 'undefined_name.ipynb'; }""",
        timeout=LOAD_MS,
    )
    panel = session.panel
    if not panel.is_visible():  # the workspace was reset: open the panel from its sidebar tab
        page.locator('.jp-SideBar .lm-TabBar-tab[data-id="workbench-panel"]').click()
        panel.wait_for(state="visible")
    error = panel.locator(".jp-Workbench-error")
    error.wait_for(timeout=PLAN_MS)
    text = error.inner_text()
    assert "not_defined_anywhere" in text, text
    assert re.search(r"cell 1\b", text), text
    assert session.active_cell_index() == 0
    error.click()
    page.wait_for_function(
        """() => { const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
                   return [...nb.querySelectorAll(':scope .jp-Cell')][1]?.classList.contains('jp-mod-active'); }"""
    )
    assert session.active_cell_index() == 1
    # The cell itself is marked too.
    assert "jp-Workbench-errorcell" in session.notebook().locator(".jp-Cell").nth(1).get_attribute("class")
    session.shot("bad-notebook-error")
    # The tagging commands are in the cell's context menu too, and in its toolbar.
    cell = session.notebook().locator(".jp-Cell").nth(1)
    cell.locator(".jp-InputPrompt").click(button="right")
    page.locator(".lm-Menu-item", has_text="Workbench").first.hover()
    submenu = page.locator(".jp-Workbench-menu")
    submenu.wait_for(state="visible")
    items = submenu.locator(".lm-Menu-itemLabel").all_text_contents()
    assert "Mark Cell as Task Start…" in items and "Skip Cell (never exported)" in items, items
    session.shot("cell-context-menu")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    submenu.wait_for(state="hidden")
    cell.locator('.jp-cell-toolbar [data-command="workbench:cell-menu"]').click()
    submenu.wait_for(state="visible")
    submenu.locator(".lm-Menu-item", has_text="Skip Cell").click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')][1]
                 ?.getAttribute('data-workbench-label') === 'skipped'"""
    )
    # Skipping the cell that read the undefined name leaves a notebook that plans.
    panel.locator('.jp-Workbench-node[data-task="a"]').wait_for()
    assert panel.locator(".jp-Workbench-error").count() == 0
    assert not session.bad_responses, session.bad_responses
    assert not server_tracebacks(lab.log_text()), lab.log_text()
