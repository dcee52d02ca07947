"""`workbench monitor --retrain`: when an alert fires, run the pipeline again on the newest data,
gate its model against the registered one, package and register it, and propose it as
`challenger` (promoting it stays a decision: `workbench promote NAME --alias champion`).

monitor/report.py decides when (it sits below the workflows and takes this as a callback); this
module does it, in-process, through the same workflows as `workbench run`, `gate` and `package`.
Each step's outcome is kept in a dict (logged with the monitoring run); the first failure stops.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.events import EventHandler, Message


def retrain(pipeline: Path, root: Path, name: str, on_event: EventHandler | None = None) -> dict[str, Any]:
    """Run (forced), gate, package and propose `name`'s new version as challenger; the steps dict."""
    from workbench.execute.build import load_plan
    from workbench.refactor.params import effective
    from workbench.workflows.run import run_pipeline, tracking_mode

    emit = on_event or (lambda event: None)
    pipeline = Path(pipeline).resolve()
    rel = str(pipeline.relative_to(root.resolve())) if pipeline.is_relative_to(root.resolve()) else str(pipeline)
    steps: dict[str, Any] = {"pipeline": rel}
    if (root / ".dvc").is_dir():
        emit(Message("retrain: fetching the newest data version (dvc pull)"))
        pulled = subprocess.run([sys.executable, "-m", "dvc", "pull", "--quiet"], cwd=root, capture_output=True,
                                text=True)
        steps["dvc pull"] = "ok" if pulled.returncode == 0 else f"skipped: {pulled.stderr.strip()[:200]}"

    def stop(label: str, text: str) -> dict[str, Any]:
        steps[label] = {"exit": 1, "output": text[-4000:]}
        steps["outcome"] = f"stopped at {label}"
        return steps

    emit(Message(f"retrain: workbench run {rel} --force"))
    try:
        plan = load_plan(pipeline)
        outcome = run_pipeline(plan, pipeline, effective(plan.parameters, {}), force=True, tracking=tracking_mode(),
                               on_event=on_event)
    except WorkbenchError as exc:
        return stop("run", str(exc))
    if outcome.error is not None:
        return stop("run", str(outcome.error))
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in outcome.metrics.items())
    steps["run"] = {"exit": 0, "run_id": outcome.run_id, "output": f"run {outcome.run_id}: {metrics}"}

    from workbench.deploy.ci_files import gate

    emit(Message(f"retrain: workbench gate {rel}"))
    try:
        judged, record, notes = gate(pipeline, outcome.run_id)
    except WorkbenchError as exc:
        return stop("gate", str(exc))
    table = "\n".join([*notes, judged.table()])
    if not judged.passed:
        return stop("gate", table)
    steps["gate"] = {"exit": 0, "output": table}

    from workbench.workflows.deploy import package_model

    emit(Message(f"retrain: workbench package {rel}"))
    try:
        packaged = package_model(pipeline, on_event=on_event)  # the latest finished run: this one
    except WorkbenchError as exc:
        return stop("package", str(exc))
    steps["package"] = {"exit": 0, "output": f"{packaged.name} version {packaged.version} in {packaged.output}"}
    version = packaged.version
    if version:
        from workbench.deploy.registry import set_alias

        set_alias(root, name, version, "challenger")
        steps["proposed"] = f"{name}/{version} as challenger"
        steps["outcome"] = (f"proposed {name}/{version} as challenger: "
                            f"`workbench promote {name} --version {version} --alias champion` promotes it")
    else:
        steps["outcome"] = "packaged, not registered: nothing to propose"
    return steps
