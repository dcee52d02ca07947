"""The `%workbench` line magic: plan, run (the CLI as a subprocess, progress streamed), check."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from workbench.lab.kernel.hidden_state import REPLAY_ENV, check
from workbench.lab.kernel.plan_view import PlanView, plan_text
from workbench.lab.kernel.session import notebook_for


def run_cli(action: str, path: str, params: list[str], cwd: Path, force: bool = False, out=None) -> int:
    """`python -m workbench.cli ACTION --events jsonl PATH --param ...`, its events shown as they come.

    A subprocess, so that interrupting the kernel stops the run and everything it started without
    touching the kernel's own state; it speaks JSON events (workbench.core.events), shown here as
    the CLI's text. Lines that are not events (the CLI's human error text on stderr) pass through."""
    from workbench.core import events as ev

    out = out or sys.stdout
    argv = [sys.executable, "-m", "workbench.cli", action, "--events=jsonl", path, *(f"--param={p}" for p in params)]
    if force:
        argv.append("--force")
    env = {"PLOOMBER_STATS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
           **os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            shown = _shown_line(line, ev)
            if shown is not None:
                out.write(shown)
                out.flush()
        return process.wait()
    except KeyboardInterrupt:  # the kernel was interrupted: stop the run and everything it started
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        out.write(f"interrupted: workbench {action} stopped\n")
        return 130





def _shown_line(line: str, ev) -> str | None:
    """What the cell shows for one line of the CLI's output: an event as text, anything else as is."""
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if not isinstance(data, dict) or "event" not in data:
        return line
    event = ev.from_dict(data)
    if isinstance(event, ev.Message) and event.level == "output":
        return event.text + "\n"
    if isinstance(event, ev.Message) and event.level == "error":
        return None  # the CLI prints the error with its hint on stderr, which comes through as text
    text = ev.text(event)
    return None if text is None else text + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%workbench", add_help=False, exit_on_error=False,
                                description="Workbench in the kernel: plan, run, check the notebook.")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("plan", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("--text", action="store_true", help="print a text table (no widget)")
    s = sub.add_parser("run", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("-p", "--param", action="append", default=[])
    s.add_argument("--force", action="store_true")
    s = sub.add_parser("check", add_help=False, exit_on_error=False)
    s.add_argument("path", nargs="?")
    s.add_argument("--all", action="store_true", help="list equal and not comparable variables too")
    s.add_argument("--kernel", help="kernel for the replay (default: the notebook's)")
    s.add_argument("--timeout", type=int, default=600, help="seconds per cell in the replay")
    return p


USAGE = """\
%workbench plan [PATH] [--text]             the pipeline this notebook becomes (reads the saved file)
%workbench run [PATH] [-p NAME=VALUE] [--force]   build it (only what changed), progress streamed
%workbench check [PATH] [--all]             hidden state: live variables vs a clean replay
PATH defaults to this kernel's notebook."""


def project_dir(notebook: Path) -> Path:
    """Where `%workbench run` runs the CLI: the project of the pipeline `workbench run NOTEBOOK`
    makes from the notebook's folder (pipelines/NAME there), by core.project's rule."""
    from workbench.core.plan import slug
    from workbench.core.project import project_root

    notebook = notebook.resolve()
    return project_root(notebook.parent / "pipelines" / slug(notebook.stem), notebook)


def workbench_magic(shell, line: str):
    from workbench.core.errors import WorkbenchError

    try:
        args = _parser().parse_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit, ValueError) as exc:
        print(f"{exc}\n{USAGE}" if str(exc) else USAGE, file=sys.stderr)
        return None
    if args.command is None:
        print(USAGE)
        return None
    replaying = os.environ.get(REPLAY_ENV) == "1"
    if replaying and args.command in ("run", "check"):
        return None  # inside `%workbench check`'s own replay
    try:
        notebook = notebook_for(args.path, shell.user_ns)
        if args.command == "plan":
            view = PlanView(notebook)
            interactive = type(shell).__name__ == "ZMQInteractiveShell"
            if args.text or view.widget is None or not interactive:
                print(plan_text(view.plan))
                return None
            from IPython.display import display

            display(view)
            return None
        if args.command == "run":
            if args.path:
                cwd, target = Path.cwd(), args.path
            else:
                cwd = project_dir(notebook)
                target = os.path.relpath(notebook.resolve(), cwd.resolve())
            code = run_cli("run", target, args.param, cwd, force=args.force)
            if code not in (0, 130):
                print(f"workbench run failed (exit status {code})", file=sys.stderr)
            return None
        report = check(notebook, shell.user_ns, getattr(shell, "user_ns_hidden", None), args.kernel, args.timeout)
        report.show_all = args.all
        return report
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def load_ipython_extension(ipython) -> None:
    """`%load_ext workbench` (workbench/__init__.py forwards here)."""

    def workbench(line: str = ""):
        return workbench_magic(ipython, line)

    workbench.__doc__ = USAGE
    ipython.register_magic_function(workbench, "line", "workbench")
