"""`%workbench plan`: the notebook's Plan as a table, or a widget that follows the saved file."""

from __future__ import annotations

import html
import time
from pathlib import Path

from workbench.core.tables import html_table, text_table
from workbench.lab.kernel.session import plan_of


def plan_rows(plan) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name in plan.order:
        t = plan.task(name)
        takes = "; ".join(f"{u}: {', '.join(e.variables + e.files + e.random_state) or '(after)'}"
                          for u, e in t.upstream.items())
        flags = [f"gpu:{t.gpu}"] if t.gpu else []
        if t.model:
            flags.append(f"model:{t.model}")
        rows.append((name, ",".join(map(str, t.code_cells)), takes or "-", ", ".join(t.outputs) or "-",
                     ", ".join(t.parameters + flags) or "-"))
    return rows




def _warning_lines(plan) -> list[str]:
    return [f"{w.message}: " + ", ".join(f"cell {c['cell']} line {c['line']} ({c['text']})" for c in w.cells)
            for w in plan.warnings]


def plan_text(plan) -> str:
    lines = [f"{plan.notebook}: {len(plan.tasks)} task(s), {len(plan.parameters)} parameter(s)"]
    if plan.parameters:
        lines.append("parameters: " + ", ".join(f"{p.name}={p.source} ({p.type})" for p in plan.parameters.values()))
    lines += ["", text_table(("task", "cells", "takes (upstream: variables)", "produces", "params"), plan_rows(plan))]
    edges = [f"  {u} -> {name}: {', '.join(e.variables + e.files + e.random_state) or '(after)'}"
             for name in plan.order for u, e in plan.task(name).upstream.items()]
    if edges:
        lines += ["", "edges:", *edges]
    if plan.requirements:
        lines += ["", "requirements: " + " ".join(plan.requirements)]
    warnings = _warning_lines(plan)
    if warnings:
        lines += ["", "warnings:", *(f"  {w}" for w in warnings)]
    return "\n".join(lines)




def plan_html(plan) -> str:
    parts = [f"<b>{html.escape(plan.notebook)}</b>: {len(plan.tasks)} task(s), {len(plan.parameters)} parameter(s)"]
    if plan.parameters:
        parts.append(html_table(("parameter", "default", "type"),
                                 [(p.name, p.source, p.type) for p in plan.parameters.values()]))
    parts.append(html_table(("task", "cells", "takes (upstream: variables)", "produces", "params"), plan_rows(plan)))
    warnings = _warning_lines(plan)
    if warnings:
        parts.append("<b>warnings</b><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    return "<br>".join(parts)


class PlanView:
    """What `%workbench plan` displays: an ipywidgets view (tasks, edges, params, warnings, a
    Refresh button) whose mime bundle also carries the plan as HTML and as a text table, so a
    frontend without widgets (or nbconvert, or a log) still shows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.plan = plan_of(path)
        self.widget = None
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return
        self.widget = self._build()

    def _build(self):
        import ipywidgets as w

        self._body = w.HTML(plan_html(self.plan))
        button = w.Button(description="Refresh", tooltip="re-read the saved notebook", icon="refresh")
        self._status = w.HTML("")

        def refresh(_):
            from workbench.core.errors import WorkbenchError

            try:
                self.plan = plan_of(self.path)
            except WorkbenchError as exc:
                self._status.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"
                return
            self._body.value = plan_html(self.plan)
            self._status.value = f"<i>refreshed {time.strftime('%H:%M:%S')}</i>"

        button.on_click(refresh)
        return w.VBox([self._body, w.HBox([button, self._status])])

    def __repr__(self) -> str:
        return plan_text(self.plan)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {}
        if self.widget is not None:
            bundle.update(self.widget._repr_mimebundle_() or {})
        bundle["text/html"] = plan_html(self.plan)
        bundle["text/plain"] = plan_text(self.plan)
        return bundle
