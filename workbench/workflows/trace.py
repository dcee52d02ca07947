"""`workbench trace` without the printing: run the notebook once, store its trace, return the plan
it changes (workbench.execute.trace runs it; workbench.refactor.traced merges it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.plan import Plan
from workbench.core.trace import Trace


@dataclass
class TraceResult:
    """The trace, where it is stored, the plan with its edges, and what it added (one line each)."""

    trace: Trace
    path: Path
    plan: Plan
    executed_notebook: Path
    added: list[str] = field(default_factory=list)

    def summary(self) -> str:
        seconds = sum(b.seconds for b in self.trace.boundaries)
        head = (f"traced {len(self.trace.boundaries)} task boundaries in {self.trace.seconds:.1f}s "
                f"(fingerprints {seconds:.2f}s); trace saved to {self.path}")
        if not self.added:
            return head + "\nthe run shows nothing the static plan did not predict"
        return "\n".join([head, "edges the static plan missed:", *("  " + a for a in self.added)])


def traced_edges(static: Plan, traced: Plan) -> list[str]:
    """One line per edge evidence the traced plan has and the static one lacks."""
    from workbench.refactor.traced import found_by_trace

    edges, warnings = found_by_trace(static, traced)
    lines = [f"{up} -> {task}: {why}" for task, up, why in edges]
    for w in warnings:
        lines += [f"{c.get('text')} ({w.message})" for c in w.cells]
    return lines


def trace(notebook: str | Path, pairs: list[str] | None = None) -> TraceResult:
    from workbench.execute.trace import save_trace, trace_notebook
    from workbench.refactor.params import parse_overrides
    from workbench.refactor.traced import apply_trace
    from workbench.workflows.targets import plan_notebook, trace_project

    path = Path(notebook)
    static = plan_notebook(path, traced=False)
    overrides = parse_overrides(list(pairs or []), static.parameters, static.notebook,
                                {c.index: c.id for c in static.cells})
    project = trace_project(path)
    result, executed = trace_notebook(path, static, overrides, project / ".workbench" / "traces" / "run")
    stored = save_trace(result, project)
    plan = apply_trace(static, result)
    return TraceResult(result, stored, plan, executed, traced_edges(static, plan))
