"""Workbench inside a running kernel: `%load_ext workbench`, then

    %workbench plan [PATH] [--text]      the plan of the notebook being edited (a widget, or a table)
    %workbench run [PATH] [-p k=v ...] [--force]   `workbench run` as a subprocess, progress streamed
    %workbench check [PATH] [--all] [--kernel NAME] [--timeout S]
                                         hidden state: the live kernel vs a clean top-to-bottom replay

PATH defaults to the notebook this kernel belongs to: Jupyter tells the kernel its notebook's path
(`JPY_SESSION_NAME`, `__session__`). Plan and check read the *saved* notebook: save first.

`check` replays the saved notebook in a fresh kernel (nbclient; `skip` cells left out), snapshots
the variables the notebook binds (the names the planner finds), loads them here and compares them
with the live values (`workbench.verification.compare`). A value that differs, a variable that exists only in the
live kernel (its cell was deleted or edited), or one the live kernel lacks (its cell never ran
here) is hidden state: Restart & Run All would change it. The replay executes the notebook's code
again, side effects (files it writes) included, as `workbench verify` does.
"""

from workbench.lab.kernel.hidden_state import CheckReport, CheckRow, check, panel_check, replay, replayable
from workbench.lab.kernel.magic import load_ipython_extension, run_cli, workbench_magic
from workbench.lab.kernel.plan_view import PlanView, plan_html, plan_rows, plan_text
from workbench.lab.kernel.session import session_notebook

__all__ = ["CheckReport", "CheckRow", "PlanView", "check", "load_ipython_extension", "panel_check", "plan_html",
           "plan_rows", "plan_text", "replay", "replayable", "run_cli", "session_notebook", "workbench_magic"]
