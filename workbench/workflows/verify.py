"""`workbench verify` without the printing: does the pipeline reproduce the notebook (or do two
devices agree)? Exports the notebook when needed, checks `ignore`, runs and compares; progress, a
VerifyRow per compared value and the VerifyFinished verdict go to `on_event`."""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.events import EventHandler


def verify_notebook(notebook: str | Path, pairs: list[str] | None = None, *, ignore=(), devices: str | None = None,
                    output: str | Path | None = None, on_event: EventHandler | None = None,
                    repeat: int | None = None, html: str | Path | None = None):
    """A verify.pipeline.VerifyReport (or a verify.devices.DeviceReport with `devices="cpu,gpu"`):
    `.ok`, `.rows`, `.table()`, `.summary()`. `pairs`: NAME=VALUE overrides. `repeat`: extra
    notebook runs to find nondeterminism (None: one, only after a difference). `html`: write the
    HTML report there (`.html_report` names it)."""
    from workbench.refactor.params import effective
    from workbench.workflows.targets import resolve_target

    pairs = list(pairs or [])
    ignore = list(ignore or ())
    plan, pipeline, overrides = resolve_target(notebook, output, pairs)
    names = {v for t in plan.tasks for v in t.outputs}
    qualified = {f"{t.name}.{v}" for t in plan.tasks for v in t.outputs}
    unknown = [n for n in ignore if n not in names | qualified]
    if unknown:
        raise WorkbenchError(f"--ignore {unknown[0]}: no task of {plan.notebook} passes on a value of that name",
                             hint="the values verify compares: " + ", ".join(sorted(names)))
    if devices:
        from workbench.verification.devices import verify_devices

        return verify_devices(pipeline, plan, pairs, devices, on_event=on_event, ignore=frozenset(ignore))
    from workbench.verification.pipeline import verify
    from workbench.workflows.targets import trace_project

    if repeat is not None and repeat < 0:
        raise WorkbenchError(f"--repeat {repeat}: the number of extra notebook runs is 0 or more")
    report = verify(Path(notebook), pipeline, plan, effective(plan.parameters, overrides), overrides,
                    on_event=on_event, ignore=frozenset(ignore), traces=trace_project(notebook), repeat=repeat)
    if html:
        from workbench.verification.html_report import write_html

        report.html_report = write_html(report, plan, Path(html))
    return report
