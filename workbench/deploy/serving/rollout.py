"""Rolling out while serving: an alias the server follows (blue/green) and a canary that analyses itself.

Blue/green (`workbench serve churn@champion`): an `AliasWatcher` asks the registry every
`interval` seconds which version the alias names. When `workbench promote` (or `--rollback`) moved
it, the new version is loaded beside the serving one (in a worker thread: requests keep being
answered), must answer `/ping` and one test scoring call (the model's input example), and only then
replaces the primary in one assignment: a request reads the primary once, so each reply comes from
exactly one version, and requests already inside the old one finish there. The old version is
dropped when its last request is done. A version that fails to load or to answer is not switched to
(the old one keeps serving, the reason is printed and tagged on the serving run); it is tried again
only when the alias moves again.

Canary (`--canary churn@challenger --ramp 5,25,50,100 --step 10m`): a `CanaryController` sets the
challenger's share to each step of the ramp in turn. Every `check_every` seconds it compares the
challenger's replies since the step began with the primary's recent replies, by the rules of the
`canary:` section of checks.yaml (`CanaryRules`, defaults below): error rate, p95 latency and the
distribution of predictions (a PSI over the limit that a chi-square test finds significant,
optionally the mean shift). A breach sets the share to 0 at once
(the primary answers everything), prints why, and ends the canary. At the end of a step it widens
when both models have at least `min_requests` replies and nothing breached, and holds (another step
at the same share) when there were too few to judge. A healthy last step (100%) completes the
canary; promoting the challenger stays the user's `workbench promote`, unless the server was started
with `--promote`: then the primary's alias is moved to the challenger through the same gate as
`workbench promote` (a refusal leaves the alias and says why), and the challenger's loaded model
becomes the primary in one assignment (no reload, no dropped request) with its share back at 0.
Every decision (start, widen, hold, roll back, complete, promote, stopped with the server) is a
nested MLflow run, tagged
`workbench.canary.decision`, under one run per canary in the experiment
`workbench/serve/<name>/canary`, with the measures it was based on as metrics and the reason as a
tag; the parent run carries the share as a metric series.

Both run as asyncio tasks in the server's event loop (started by the app's startup hooks), so that
the switch and the share change happen between requests, never during one; registry and MLflow calls
and model loading run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["AliasWatcher", "CanaryController", "CanaryRules", "RolloutError", "Verdict", "judge",
           "load_canary_rules", "parse_canary_rules", "parse_duration", "parse_ramp", "psi", "same_distribution_p", "split_share"]

DEFAULT_STEP = "10m"
DEFAULT_RAMP = (5.0, 25.0, 50.0, 100.0)
_PRIMARY_WINDOW = 2_000      # the primary's recent replies the canary is compared with
_CANARY_WINDOW = 20_000
_DROP_WAIT = 120.0           # seconds a swapped-out model may still finish requests before it is dropped


class RolloutError(WorkbenchError):
    """A ramp, a step or the canary rules cannot be read."""


def parse_duration(text: str | float, what: str = "--step") -> float:
    """`90`, `30s`, `10m`, `1.5h` as seconds (more than 0)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", str(text))
        if not m:
            raise RolloutError(f"{what} {text!r}: not a duration",
                               hint="give a number with s, m or h: 30s, 10m, 1h (a plain number is seconds)")
        value = float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]
    if not value > 0:
        raise RolloutError(f"{what} {text!r}: must be more than 0 seconds", hint="e.g. 10m")
    return value


def split_share(text: str) -> tuple[str, float | None]:
    """`churn/3:50` as ("churn/3", 50.0), `churn@challenger:20%` as ("churn@challenger", 20.0); a
    model without a share (`models:/churn@challenger`: its colon is the scheme's) as (text, None).
    The one reading of MODEL:PERCENT for --canary and --ab; each checks the range it allows."""
    model, sep, percent = str(text).rpartition(":")
    if sep and model:
        with contextlib.suppress(ValueError):
            return model, float(percent.rstrip("%"))
    return str(text), None


def parse_ramp(text: str) -> list[float]:
    """`5,25,50,100` as shares in percent: increasing, each in (0, 100]."""
    try:
        shares = [float(part.strip().rstrip("%")) for part in str(text).split(",") if part.strip()]
    except ValueError:
        shares = []
    if not shares or any(not 0 < s <= 100 for s in shares) or any(b <= a for a, b in zip(shares, shares[1:])):
        raise RolloutError(f"--ramp {text}: expected increasing percentages in (0, 100], comma-separated",
                           hint="e.g. --ramp 5,25,50,100 (the last step is usually 100)")
    return shares


# --------------------------------------------------------------------------------------------------
# the rules of the canary: the `canary:` section of checks.yaml


@dataclass(frozen=True)
class CanaryRules:
    """When a canary is healthy, relative to the primary it runs beside (checks.yaml `canary:`)."""

    min_requests: int = 20                 # replies of each model before anything is judged
    max_error_rate_increase: float = 0.02  # canary error rate (4xx/5xx) minus the primary's
    max_p95_ratio: float = 1.5             # canary p95 latency / primary p95 latency ...
    p95_slack_ms: float = 25.0             # ... and only a difference of more than this counts
    max_psi: float | None = 0.25           # PSI of the canary's predictions against the primary's ...
    psi_significance: float | None = 0.01  # ... counts when a chi-square test finds it significant (null: always)
    max_mean_shift: float | None = None    # |mean difference| of predictions, in primary std units
    check_every: float = 5.0               # seconds between checks within a step
    step: float | None = None              # the step when --step is not given (seconds)
    ramp: tuple[float, ...] | None = None  # the ramp when --ramp gives none


_KEYS = {f for f in CanaryRules.__dataclass_fields__}


def parse_canary_rules(section: object, source: str = "checks.yaml") -> CanaryRules:
    """The `canary:` section as rules; defaults for what it leaves out, a clear error for the rest."""
    if section is None:
        return CanaryRules()
    if not isinstance(section, dict):
        raise RolloutError(f"{source}: `canary:` must be a mapping such as {{max_p95_ratio: 1.5}}")
    unknown = set(section) - _KEYS
    if unknown:
        raise RolloutError(f"{source}: canary: unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                           hint="allowed: " + ", ".join(sorted(_KEYS)))
    values: dict[str, Any] = {}
    for key, value in section.items():
        where = f"{source}: canary.{key}"
        if key in ("step", "check_every"):
            values[key] = None if value is None and key == "step" else parse_duration(value, where)
        elif key == "ramp":
            values[key] = None if value is None else tuple(parse_ramp(
                ",".join(map(str, value)) if isinstance(value, list) else str(value)))
        elif value is None and key in ("max_psi", "max_mean_shift", "psi_significance"):
            values[key] = None
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RolloutError(f"{where} must be a number of at least 0, not {value!r}")
        else:
            values[key] = int(value) if key == "min_requests" else float(value)
    if values.get("min_requests", 1) < 1:
        raise RolloutError(f"{source}: canary.min_requests must be at least 1")
    level = values.get("psi_significance")
    if level is not None and not 0 < level < 1:
        raise RolloutError(f"{source}: canary.psi_significance must be a level between 0 and 1, such as 0.01",
                           hint="or null to judge the PSI alone")
    return CanaryRules(**values)


def load_canary_rules(checks_file: Path | None) -> CanaryRules:
    from workbench.quality.checks import read_checks

    if checks_file is None:
        return CanaryRules()
    return parse_canary_rules(read_checks(checks_file).get("canary"), str(checks_file))


def checks_file_for(ref: Any, root: Path) -> Path | None:
    """The checks.yaml of the model's pipeline: its version's tags, else pipelines/<name>/."""
    tags = getattr(ref, "tags", None) or {}
    for key in ("workbench.pipeline_dir", "workbench.pipeline"):
        value = tags.get(key)
        if value:
            for folder in (Path(root) / value, Path(root) / "pipelines" / value):
                if (folder / "checks.yaml").is_file():
                    return folder / "checks.yaml"
    candidate = Path(root) / "pipelines" / ref.name / "checks.yaml"
    return candidate if candidate.is_file() else None


# --------------------------------------------------------------------------------------------------
# judging a canary against the primary


@dataclass
class Sample:
    status: int
    seconds: float
    body: bytes


@dataclass
class Verdict:
    enough: bool
    breaches: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    note: str = ""


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _numbers(value[key])]
    if isinstance(value, list | tuple):
        return [x for item in value for x in _numbers(item)]
    if isinstance(value, bool):
        return [float(value)]
    if isinstance(value, int | float) and math.isfinite(value):
        return [float(value)]
    return []


def _predictions(samples: list[Sample]) -> list[float]:
    from workbench.deploy.serving.request_log import decode_reply

    out: list[float] = []
    for s in samples:
        if s.status < 400:
            predictions, _error = decode_reply(s.body)
            out.extend(_numbers(predictions))
    return out


def _histograms(expected: list[float], actual: list[float], bins: int = 10) -> tuple[list[int], list[int]]:
    """Counts of both in the same bins: one bin per value when there are few distinct values (a
    classifier's labels), else the deciles of `expected`."""
    values = sorted(set(expected) | set(actual))
    if len(values) <= bins:
        def index(x: float) -> int:
            return values.index(x)
        n = len(values)
    else:
        ordered = sorted(expected)
        edges = sorted({ordered[min(len(ordered) - 1, int(len(ordered) * q / bins))] for q in range(1, bins)})

        def index(x: float) -> int:
            return sum(x > e for e in edges)
        n = len(edges) + 1
    e_counts, a_counts = [0] * n, [0] * n
    for x in expected:
        e_counts[index(x)] += 1
    for x in actual:
        a_counts[index(x)] += 1
    return e_counts, a_counts


def psi(expected: list[float], actual: list[float], bins: int = 10) -> float:
    """Population stability index of `actual` against `expected` (bins: `_histograms`); empty bins
    count half an observation, so that it stays finite."""
    e_counts, a_counts = ([c + 0.5 for c in h] for h in _histograms(expected, actual, bins))
    e_total, a_total = sum(e_counts), sum(a_counts)
    return sum((a / a_total - e / e_total) * math.log((a / a_total) / (e / e_total))
               for e, a in zip(e_counts, a_counts))


def same_distribution_p(expected: list[float], actual: list[float], bins: int = 10) -> float:
    """The p-value of a chi-square test that both come from one distribution, on the PSI's bins.

    A PSI threshold alone is not a test: over the 8 to 20 replies a canary is judged on, two samples
    of the same distribution often show a PSI above 0.25 (0.85 was seen between two healthy models'
    0/1 predictions over 8 replies, and the healthy canary was rolled back). The breach therefore
    also needs the difference to be unlikely under sampling noise, as Kayenta's and Flagger's
    canary analysis judge by a statistical test rather than by a bare threshold."""
    from scipy.stats import chi2_contingency

    e_counts, a_counts = _histograms(expected, actual, bins)
    table = [[e, a] for e, a in zip(e_counts, a_counts) if e + a]
    if len(table) < 2:
        return 1.0  # one value in both: nothing differs
    return float(chi2_contingency(list(zip(*table))).pvalue)


def _p95(samples: list[Sample]) -> float:
    ordered = sorted(s.seconds for s in samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))] * 1000


def judge(rules: CanaryRules, canary: list[Sample], primary: list[Sample]) -> Verdict:
    """Whether the canary's replies stay within `rules` of the primary's (pure, for any window)."""
    m: dict[str, float] = {"canary_requests": len(canary), "primary_requests": len(primary)}
    if len(canary) < rules.min_requests or len(primary) < rules.min_requests:
        return Verdict(False, measures=m, note=f"{len(canary)} canary and {len(primary)} primary replies, "
                       f"{rules.min_requests} of each needed to judge")
    breaches = []
    c_err = sum(s.status >= 400 for s in canary) / len(canary)
    p_err = sum(s.status >= 400 for s in primary) / len(primary)
    m.update(canary_error_rate=c_err, primary_error_rate=p_err)
    if c_err > p_err + rules.max_error_rate_increase:
        breaches.append(f"error rate {c_err:.1%} > primary's {p_err:.1%} + {rules.max_error_rate_increase:.1%}")
    c_ok, p_ok = [s for s in canary if s.status < 400], [s for s in primary if s.status < 400]
    if c_ok and p_ok:
        c95, p95 = _p95(c_ok), _p95(p_ok)
        m.update(canary_p95_ms=c95, primary_p95_ms=p95)
        if c95 > p95 * rules.max_p95_ratio and c95 - p95 > rules.p95_slack_ms:
            breaches.append(f"p95 latency {c95:.1f} ms > {rules.max_p95_ratio:g} x primary's {p95:.1f} ms "
                            f"(and more than {rules.p95_slack_ms:g} ms slower)")
    c_pred, p_pred = _predictions(c_ok), _predictions(p_ok)
    if c_pred and p_pred:
        value = psi(p_pred, c_pred)
        m["prediction_psi"] = value
        if rules.max_psi is not None and value > rules.max_psi:
            if rules.psi_significance is None:
                breaches.append(f"prediction PSI {value:.3f} > {rules.max_psi:g}")
            else:
                p = m["prediction_psi_p"] = same_distribution_p(p_pred, c_pred)
                if p < rules.psi_significance:
                    breaches.append(f"prediction PSI {value:.3f} > {rules.max_psi:g} (chi-square p {p:.2g} "
                                    f"< {rules.psi_significance:g})")
        mean_p = sum(p_pred) / len(p_pred)
        std_p = math.sqrt(sum((x - mean_p) ** 2 for x in p_pred) / len(p_pred))
        shift = abs(sum(c_pred) / len(c_pred) - mean_p) / (std_p or 1.0)
        m["prediction_mean_shift"] = shift
        if rules.max_mean_shift is not None and shift > rules.max_mean_shift:
            breaches.append(f"prediction mean shift {shift:.2f} std > {rules.max_mean_shift:g}")
    return Verdict(True, breaches, m)


# --------------------------------------------------------------------------------------------------
# MLflow records of the canary's decisions


async def _cancel(task: asyncio.Task | None) -> bool:
    """Cancel a still-running background task and wait for it; False when there was none running."""
    if task is None or task.done():
        return False
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return True


async def _retire(slot: Any, progress: Callable[[str], None]) -> None:
    """Drop a swapped-out model once the requests already inside it are done (or after _DROP_WAIT)."""
    deadline = time.monotonic() + _DROP_WAIT
    while slot.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    progress(f"dropped {slot.label}" + (f" ({slot.inflight} request(s) still inside it)" if slot.inflight else ""))
    slot.model = None


class CanaryRecorder:
    """One parent run per canary, one nested run per decision; failures warn once, never stop serving."""

    def __init__(self, root: Path, uri: str, name: str, warn: Callable[[str], None]) -> None:
        from workbench.provenance.tracking import BestEffortTracking

        self.root, self.uri, self.name = root, uri, name
        self.parent: str | None = None
        self.experiment_id: str | None = None
        self._step = 0
        self._call = BestEffortTracking(uri, warn).call

    def start(self, params: dict[str, Any], tags: dict[str, str]) -> None:
        from workbench.provenance.tracking import artifact_location_for, experiment_for, log_batch

        def start(client: Any) -> str:
            self.experiment_id = experiment_for(client, f"serve/{self.name}/canary",
                                                artifact_location_for(self.uri, self.root))
            run = client.create_run(self.experiment_id, run_name=f"canary {params.get('canary')}",
                                    tags={"workbench.kind": "canary", **tags})
            log_batch(client, run.info.run_id, {}, {k: str(v) for k, v in params.items()}, {})
            return run.info.run_id

        self.parent = self._call("start the canary run", start)

    def decision(self, decision: str, share_from: float, share_to: float, reason: str,
                 measures: dict[str, float]) -> None:
        if self.parent is None:
            return
        from mlflow.entities import Metric, Param, RunTag

        now, step = int(time.time() * 1000), self._step
        self._step += 1

        def log(client: Any) -> None:
            run = client.create_run(self.experiment_id, run_name=f"{decision} {share_from:g}% -> {share_to:g}%",
                                    tags={"mlflow.parentRunId": self.parent, "workbench.kind": "canary-decision",
                                          "workbench.canary.decision": decision,
                                          "workbench.canary.reason": reason[:5000]})
            client.log_batch(run.info.run_id,
                             metrics=[Metric(k, float(v), now, 0) for k, v in measures.items()],
                             params=[Param("decision", decision), Param("share_from", f"{share_from:g}"),
                                     Param("share_to", f"{share_to:g}"), Param("decision_index", str(step))],
                             tags=[RunTag("workbench.canary.share", f"{share_to:g}")])
            client.set_terminated(run.info.run_id, "FINISHED")
            client.log_batch(self.parent, metrics=[Metric("canary_percent", share_to, now, step)],
                             tags=[RunTag("workbench.canary.last_decision", decision)])

        self._call(f"record the canary decision {decision}", log)

    def finish(self, outcome: str, reason: str) -> None:
        if self.parent is None:
            return

        def finish(client: Any) -> None:
            client.set_tag(self.parent, "workbench.canary.outcome", outcome)
            client.set_tag(self.parent, "workbench.canary.outcome_reason", reason[:5000])
            client.set_terminated(self.parent, "FINISHED")

        self._call("close the canary run", finish)
        self.parent = None


# --------------------------------------------------------------------------------------------------
# the canary controller


# A freshly loaded version's first replies pay for lazy imports and cold caches (seen: 104 ms
# against a warm primary's 36 ms, a healthy canary rolled back for latency): they are not judged
# for latency. A failed reply always counts.
WARMUP_REQUESTS = 5


class CanaryController:
    """Walks the canary's share up the ramp while `judge` finds it healthy (see the module doc)."""

    def __init__(self, app: Any, ramp: list[float], step: float, rules: CanaryRules,
                 recorder: CanaryRecorder | None, progress: Callable[[str], None],
                 promote: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.app, self.ramp, self.step, self.rules = app, list(ramp), step, rules
        self.recorder, self.progress, self.promote = recorder, progress, promote
        self.canary: deque[Sample] = deque(maxlen=_CANARY_WINDOW)
        self.primary: deque[Sample] = deque(maxlen=_PRIMARY_WINDOW)
        self.index = 0
        self.warming = WARMUP_REQUESTS
        self.state = "starting"   # ramping, complete, promoted, rolled back, stopped
        self.decisions: list[dict] = []
        self._task: asyncio.Task | None = None
        app.observers.append(self.observe)

    @property
    def share(self) -> float:
        return self.app.router.percent

    def observe(self, role: str, label: str, status: int, seconds: float, body: bytes) -> None:
        if role == "canary":
            if self.warming > 0 and status == 200:
                self.warming -= 1
                return
            self.canary.append(Sample(status, seconds, body))
        elif role == "primary":
            self.primary.append(Sample(status, seconds, body))

    async def _decide(self, decision: str, share: float, reason: str, measures: dict[str, float]) -> None:
        before = self.share
        self.app.router.percent = share  # first: a rollback takes effect before anything is recorded
        self.decisions.append({"decision": decision, "from": before, "to": share, "reason": reason,
                               "at": time.time(), **measures})
        label = self.app.second.label
        self.progress(f"canary {label}: {decision} {before:g}% -> {share:g}%" + (f": {reason}" if reason else ""))
        if self.recorder is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, self.recorder.decision, decision, before, share, reason, measures)

    async def run(self) -> None:
        self.state = "ramping"
        await self._decide("start", self.ramp[0], f"ramp {','.join(f'{s:g}' for s in self.ramp)}, "
                           f"step {self.step:g}s", {})
        began = time.monotonic()
        while True:
            await asyncio.sleep(min(self.rules.check_every, self.step))
            verdict = judge(self.rules, list(self.canary), list(self.primary))
            if verdict.breaches:
                reason = "; ".join(verdict.breaches)
                await self._decide("rollback", 0.0, reason, verdict.measures)
                self.state = "rolled back"
                await self._finish("rolled back", reason)
                return
            if time.monotonic() - began < self.step:
                continue
            if not verdict.enough:
                await self._decide("hold", self.share, verdict.note, verdict.measures)
                began = time.monotonic()  # another step at this share, the replies so far still count
                continue
            if self.index == len(self.ramp) - 1:
                await self._decide("complete", self.share, "healthy through the last step" + (
                    "" if self.promote else ": promote it with `workbench promote`"), verdict.measures)
                self.state = "complete"
                if self.promote is None or not await self._promote():
                    await self._finish("complete", "healthy at every step")
                return
            self.index += 1
            await self._decide("widen", self.ramp[self.index], "healthy: " + ", ".join(
                f"{k} {v:.4g}" for k, v in verdict.measures.items()), verdict.measures)
            self.canary.clear()
            began = time.monotonic()

    async def _promote(self) -> bool:
        """`--promote`: move the alias (the registry's gate decides), then serve the challenger as
        the primary; True when it was promoted (the canary is then finished)."""
        loop = asyncio.get_running_loop()
        try:
            moved, why = await loop.run_in_executor(None, self.promote)
        except Exception as exc:  # noqa: BLE001 - the registry failing must not stop serving
            moved, why = False, f"{type(exc).__name__}: {exc}"
        if not moved:
            await self._decide("not promoted", self.share, why, {})
            return False
        old, new = self.app.primary, self.app.second
        self.app.primary = new  # the challenger's loaded model answers as the primary from now on
        await self._decide("promote", 0.0, why, {})
        self.state = "promoted"
        await self._finish("promoted", why)
        await _retire(old, self.progress)
        return True

    async def _finish(self, outcome: str, reason: str) -> None:
        if self.recorder is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.recorder.finish, outcome, reason)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if await _cancel(self._task):
            self.state = "stopped"
            if self.recorder is not None:
                await asyncio.get_running_loop().run_in_executor(
                    None, self.recorder.decision, "stopped", self.share, self.share, "the server stopped", {})
                await self._finish("stopped", f"the server stopped at {self.share:g}%")

    def describe(self) -> dict:
        return {"model": self.app.second.label, "percent": self.share, "state": self.state,
                "ramp": self.ramp, "step_seconds": self.step, "rules": asdict(self.rules),
                "decisions": [{k: v for k, v in d.items() if k in ("decision", "from", "to", "reason", "at")}
                              for d in self.decisions]}


# --------------------------------------------------------------------------------------------------
# blue/green: following an alias


class AliasWatcher:
    """Switches the primary when its alias moves (see the module doc)."""

    def __init__(self, app: Any, name: str, alias: str, root: Path, uri: str, interval: float,
                 progress: Callable[[str], None], on_switch: Callable[[str, str, str], None] | None = None) -> None:
        self.app, self.name, self.alias, self.root, self.uri = app, name, alias, root, uri
        self.interval, self.progress, self.on_switch = interval, progress, on_switch
        self.switches: list[dict] = []
        self._refused: set[str] = set()   # versions that failed to load or answer: not retried
        self._last_error = ""
        self._client: Any = None
        self._task: asyncio.Task | None = None

    def _holder(self) -> str:
        from workbench.provenance.tracking import mlflow_client, mlflow_session, translate_errors

        with mlflow_session(), translate_errors(self.uri, f"read {self.name}@{self.alias}"):
            if self._client is None:
                self._client = mlflow_client(self.uri)
            return str(self._client.get_model_version_by_alias(self.name, self.alias).version)

    def _load(self, version: str) -> Any:
        from mlflow.pyfunc import scoring_server

        from workbench.deploy.serving import models
        from workbench.deploy.serving.app import ModelSlot

        ref = models.resolve(f"models:/{self.name}/{version}", self.root, self.uri)
        model = models.load(ref, self.uri)
        return ModelSlot(label=ref.label, app=scoring_server.init(model), model=model)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                version = await loop.run_in_executor(None, self._holder)
            except Exception as exc:  # noqa: BLE001 - a registry hiccup never stops serving
                message = f"{self.name}@{self.alias}: cannot read the registry ({exc}); still serving " \
                          f"{self.app.primary.label}"
                if message != self._last_error:
                    self.progress(f"warning: {message}")
                    self._last_error = message
                continue
            self._last_error = ""
            label = f"{self.name}/{version}"
            if label == self.app.primary.label or label in self._refused:
                continue
            await self.switch(version)

    async def switch(self, version: str) -> bool:
        """Load `version` beside the primary, switch once it answers, drop the old one; True if switched."""
        from workbench.deploy.serving.app import probe
        from workbench.deploy.serving.models import example_request

        loop = asyncio.get_running_loop()
        label, old = f"{self.name}/{version}", self.app.primary
        started = time.perf_counter()
        self.progress(f"{self.name}@{self.alias} moved to {label}: loading it beside {old.label} ...")
        try:
            slot = await loop.run_in_executor(None, self._load, version)
            why = await probe(slot, example_request(slot.model).encode())
        except Exception as exc:  # noqa: BLE001 - the old version keeps serving
            why = f"{type(exc).__name__}: {exc}"
        if why:
            self._refused.add(label)
            self.progress(f"NOT switching to {label}: {why}; {old.label} keeps serving "
                          f"(it is tried again when {self.name}@{self.alias} moves again)")
            self.switches.append({"from": old.label, "to": label, "switched": False, "reason": why, "at": time.time()})
            if self.on_switch is not None:
                await loop.run_in_executor(None, self.on_switch, old.label, label, f"refused: {why}")
            return False
        self.app.primary = slot  # the switch: every request from now on reads the new slot
        seconds = time.perf_counter() - started
        self.progress(f"switched {self.name}@{self.alias}: {old.label} -> {label} "
                      f"(loaded and answered /ping and a test call in {seconds:.1f}s)")
        self.switches.append({"from": old.label, "to": label, "switched": True, "seconds": round(seconds, 3),
                              "at": time.time()})
        if self.on_switch is not None:
            await loop.run_in_executor(None, self.on_switch, old.label, label, "switched")
        await _retire(old, self.progress)
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        await _cancel(self._task)

    def describe(self) -> dict:
        return {"follows": f"{self.name}@{self.alias}", "every_seconds": self.interval,
                "switches": self.switches[-20:]}


def attach(app: Any, *, root: Path, uri: str, name: str, primary: Any, second: Any,
           follow_every: float | None, ramp: list[float] | None, step: float | None,
           rules: CanaryRules | None, track: bool, progress: Callable[[str], None],
           on_switch: Callable[[str, str, str], None] | None = None,
           serving_run_id: str | None = None,
           promote: Callable[[], tuple[bool, str]] | None = None) -> list[str]:
    """Hook the watcher and/or the canary controller into `app`; the lines to print about them."""
    import mlflow

    lines: list[str] = []
    watcher = controller = None
    if follow_every is not None and primary.alias:
        watcher = AliasWatcher(app, primary.name, primary.alias, root, uri, follow_every, progress, on_switch)
        lines.append(f"  follows {primary.name}@{primary.alias} (checked every {follow_every:g}s): when "
                     "`workbench promote` moves it, the new version takes over once it answers")
    if ramp is not None:
        rules = rules or CanaryRules()
        recorder = CanaryRecorder(root, uri, name, progress) if track else None
        controller = CanaryController(app, ramp, step, rules, recorder, progress, promote)
        lines.append(f"  canary: {second.label} ramps {', '.join(f'{s:g}%' for s in ramp)}, {step:g}s a step, "
                     f"while it stays within the canary rules; a breach sends it back to 0%")
        if promote is not None:
            lines.append(f"  healthy through the last step, it becomes {primary.name}@{primary.alias} "
                         "(if the promotion gate of checks.yaml lets it) and serves every request")
        if recorder is not None:
            params = {"primary": primary.label, "canary": second.label, "ramp": ",".join(f"{s:g}" for s in ramp),
                      "step_seconds": f"{step:g}", "promote": str(promote is not None),
                      **{f"rule.{k}": v for k, v in asdict(rules).items()
                                                      if k not in ("step", "ramp")}}
            tags = {"workbench.serving.run_id": serving_run_id} if serving_run_id else {}

            async def start_record() -> None:  # before the controller's first decision
                await asyncio.get_running_loop().run_in_executor(None, recorder.start, params, tags)

            app.on_startup.append(start_record)

    def describe() -> dict:
        out = {"mlflow": mlflow.__version__, "model": app.primary.label, "mode": app.mode}
        if app.second is not None and app.second is not app.primary:  # promoted (--promote): one model
            out["second"] = app.second.label
        if watcher is not None:
            out.update(watcher.describe())
        if controller is not None:
            out["canary"] = controller.describe()
        elif app.router is not None:
            out["canary"] = {"model": app.second.label, "percent": app.router.percent}
        return out

    app.describe = describe
    for part in (watcher, controller):
        if part is not None:
            app.on_startup.append(part.start)
            app.on_shutdown.insert(0, part.stop)
    return lines
