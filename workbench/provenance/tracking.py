"""Experiment tracking of Workbench runs in MLflow.

The runner hands over one plain run record (a JSON-serialisable dict) per run. It becomes one
MLflow parent run in the experiment `workbench/<pipeline>` (parameters, metrics, the tags that say
which notebook, commit, data and machine produced it, and the whole record as
`workbench_run.json`) with one nested run per task, so the MLflow UI can compare runs and open each
executed task notebook, rendered, without Jupyter.

Where it goes: `MLFLOW_TRACKING_URI` if set, else an embedded SQLite store in the project's
`.workbench/` (no server to start, browsable with `mlflow ui --backend-store-uri <that uri>`).

A tracking server that is down must cost seconds, not the run: MLflow's own HTTP retries (7, with
exponential back-off: minutes) are turned down while we talk to it, an unreachable server raises
`TrackingUnavailable`, and the runner then `spool`s the record under `.workbench/unsynced/`, which
`sync` delivers later. Logging is idempotent (a record already in MLflow is found by its
`workbench.run_id` tag), so a retried or repeated sync never makes duplicates, and a run left half
logged by a connection lost midway is replaced, not kept.

`import mlflow` costs seconds, so it happens only inside the functions that talk to MLflow: the
CLI's paths that do not track never pay for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "BestEffortTracking",
    "TrackingError",
    "TrackingUnavailable",
    "default_tracking_uri",
    "find_runs",
    "log_run",
    "spool",
    "sync",
]

logger = logging.getLogger(__name__)

WORKBENCH_DIR = ".workbench"
SPOOL_DIR = "unsynced"
EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"
EXPERIMENT_PREFIX = "workbench/"
RECORD_ARTIFACT = "workbench_run.json"

# tags on the parent run
TAG_RUN_ID = "workbench.run_id"
TAG_PIPELINE = "workbench.pipeline"
TAG_NOTEBOOK = "workbench.notebook"
TAG_NOTEBOOK_SHA = "workbench.notebook_sha256"
TAG_DEVICE = "workbench.device"
TAG_VERSION = "workbench.version"
TAG_STATUS = "workbench.status"
TAG_PARAMS_JSON = "workbench.params_json"
TAG_NOTES = "workbench.notes"
TAG_KIND = "workbench.kind"  # pipeline | notebook (a `workbench rerun`) | sweep (the parent of a sweep's runs)
TAG_SWEEP_ID = "workbench.sweep_id"  # on a sweep's runs: the sweep they belong to
TAG_COMPLETE = "workbench.logged"  # set last: a run without it was cut off midway and is relogged
TAG_GIT_COMMIT = "git.commit"
TAG_GIT_DIRTY = "git.dirty"
DATA_TAG_PREFIX = "data."
# tags on the nested (task) runs
TAG_TASK = "workbench.task"
TAG_MADE_BY = "workbench.made_by"
# MLflow's own tags
TAG_PARENT = "mlflow.parentRunId"
TAG_USER = "mlflow.user"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_COMMIT = "mlflow.source.git.commit"

# While Workbench talks to MLflow (unless the user set them): fail fast instead of retrying for
# minutes; no progress bars on stderr; no "View run ... at: URL" line on stdout per finished run
# (MLflow prints one for every run, nested ones included, and fetches the run again to do so).
# MLflow reads these at each request, so scoping them to our calls is enough.
_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}

# MLflow's limits (mlflow.utils.validation), restated so that a long value is shortened with a note
# rather than failing the whole run
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_MAX_PARAMS_TAGS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 800  # of 1000 entities per batch, leaving room for params and tags
_KEY_BAD_CHARS = re.compile(r"[^/\w.\- :]")
_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_TERMINAL = {"FINISHED", "FAILED", "KILLED"}
_TASK_STATUS = {"ran": "FINISHED", "skipped": "FINISHED", "failed": "FAILED"}


class TrackingError(WorkbenchError):
    """MLflow could not record or read runs for a reason the user can act on (not reachability)."""


class TrackingUnavailable(TrackingError):
    """The tracking server cannot be reached: the record should be spooled and synced later."""


# --------------------------------------------------------------------------------------------------
# where


def default_tracking_uri(root: Path) -> str:
    """`MLFLOW_TRACKING_URI` when set (the team's server), else the project's embedded SQLite store.

    The embedded store is an absolute `sqlite:///` URI under `<root>/.workbench/` so that it does not
    depend on the working directory the CLI was started from.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    return "sqlite:///" + str(Path(root).resolve() / WORKBENCH_DIR / EMBEDDED_DB)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///"):].split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest).resolve()


def artifact_location_for(uri: str, root: Path) -> str | None:
    """Where a new experiment keeps its artifacts: next to a SQLite database, else the server's choice.

    MLflow's default for a SQLite store is `./mlruns` in whatever directory the process runs in,
    which scatters artifacts; a server (http, databricks) decides for itself.
    """
    if not uri.startswith("sqlite:"):
        return None
    db = sqlite_path(uri)
    base = db.parent if db is not None else Path(root).resolve() / WORKBENCH_DIR
    return (base / EMBEDDED_ARTIFACTS).as_uri()


def redact_uri(uri: str) -> str:
    """The URI without user:password, for messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


# --------------------------------------------------------------------------------------------------
# talking to MLflow


@contextlib.contextmanager
def mlflow_session() -> Iterator[None]:
    """Fast-failing HTTP settings and quiet MLflow logging, only for the duration of our calls."""
    # Telemetry stays off unless the user asked for it (as the Makefile does); it must be decided
    # before MLflow is first imported.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    added = [k for k in _ENV_DEFAULTS if k not in os.environ]
    for key in added:
        os.environ[key] = _ENV_DEFAULTS[key]
    # MLflow announces creating/upgrading the SQLite schema at INFO on stderr: noise in the CLI.
    quiet = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def mlflow_client(uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def _is_unreachable(exc: BaseException) -> bool:
    """Whether an exception (or one it was raised while handling) means the server is not there.

    MLflow wraps connection failures in an MlflowException without `from`, so the cause is found on
    `__context__`. A gateway's 502/503/504 (the proxy is up, MLflow behind it is not) counts too.
    """
    import requests

    network = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
               requests.exceptions.RetryError, ConnectionError, TimeoutError)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, network):
            return True
        if re.search(r"error code 50[234] != 200|too many 50[234] error responses", str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def translate_errors(uri: str, doing: str) -> Iterator[None]:
    """MLflow's exceptions as WorkbenchErrors the CLI can print: unreachable, or refused."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except WorkbenchError:
        raise
    except Exception as exc:
        if _is_unreachable(exc):
            raise TrackingUnavailable(
                f"cannot reach the MLflow tracking server at {redact_uri(uri)} to {doing}",
                hint="start the tracking server, or point MLFLOW_TRACKING_URI at one that runs (unset, "
                     "Workbench uses the project's embedded store .workbench/mlflow.db)",
                detail=_first_line(exc),
            ) from exc
        if isinstance(exc, (MlflowException, OSError)):
            raise TrackingError(
                f"MLflow at {redact_uri(uri)} failed to {doing}",
                hint="check MLFLOW_TRACKING_URI and the server's log",
                detail=_first_line(exc),
            ) from exc
        raise


class BestEffortTracking:
    """MLflow calls from a process whose own job comes first (a server answering requests): a
    failure warns once, however many reports follow, and the call returns None instead of raising,
    so that an unreachable tracking server never stops serving."""

    def __init__(self, uri: str, warn: Callable[[str], None]) -> None:
        self.uri, self._warn, self._warned = uri, warn, False

    def call(self, doing: str, fn: Callable[[MlflowClient], Any]) -> Any:
        try:
            with mlflow_session(), translate_errors(self.uri, doing):
                return fn(mlflow_client(self.uri))
        except TrackingError as exc:
            if not self._warned:
                self._warn(f"warning: MLflow: {exc}")
                self._warned = True
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 500 else line[:500] + "..."


# --------------------------------------------------------------------------------------------------
# logging one record


def log_run(record: dict, root: Path, uri: str | None = None) -> str:
    """Log one Workbench run record to MLflow and return the MLflow run id.

    Idempotent: when a run with this record's `workbench.run_id` is already fully logged, its id is
    returned and nothing is written; a run left half logged (connection lost midway) is deleted and
    logged again. Raises TrackingUnavailable when the server cannot be reached (within about the
    HTTP timeout, 5 s by default) and TrackingError when MLflow refuses.
    """
    _check_record(record)
    root = Path(root)
    uri = uri or default_tracking_uri(root)
    with mlflow_session(), translate_errors(uri, f"log run {record['id']}"):
        client = mlflow_client(uri)
        experiment_id = experiment_for(client, record["pipeline"], artifact_location_for(uri, root))
        done = _existing_run(client, experiment_id, record["id"])
        if done is not None:
            logger.info("run %s is already in MLflow as %s", record["id"], done)
            return done
        return _log(client, experiment_id, record)


def _check_record(record: dict) -> None:
    """A record without id or pipeline is the runner's bug, not the user's: fail with a traceback."""
    if not isinstance(record, dict):
        raise TypeError(f"a run record is a dict, not {type(record).__name__}")
    for key in ("id", "pipeline"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise ValueError(f"a run record needs a non-empty string {key!r}")
    if not _RECORD_ID.match(record["id"]):
        raise ValueError(f"run id {record['id']!r} is not of letters, digits, '.', '_', ':' and '-'")


def experiment_for(client: MlflowClient, pipeline: str, artifact_location: str | None) -> str:
    """The id of `workbench/<pipeline>`, created on first use (concurrent creators both succeed)."""
    from mlflow.exceptions import MlflowException

    name = EXPERIMENT_PREFIX + pipeline
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # someone else created it meanwhile
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"the MLflow experiment {name!r} was deleted",
            hint=f"restore it (`mlflow experiments restore --experiment-id {experiment.experiment_id}`) "
                 "or delete it for good (`mlflow gc`) so that Workbench can create it again",
        )
    return experiment.experiment_id


def _existing_run(client: MlflowClient, experiment_id: str, record_id: str) -> str | None:
    """The MLflow id of the complete run logged for this record; removes incomplete ones."""
    runs = _search(client, [experiment_id], f"tags.`{TAG_RUN_ID}` = '{record_id}'")
    complete = [r for r in runs if r.data.tags.get(TAG_COMPLETE) == "true"]
    if complete:
        return complete[0].info.run_id
    for run in runs:  # cut off midway: its nested runs go with it, then we log it afresh
        for child in _search(client, [experiment_id], f"tags.`{TAG_PARENT}` = '{run.info.run_id}'"):
            client.delete_run(child.info.run_id)
        client.delete_run(run.info.run_id)
        logger.info("deleted MLflow run %s: run %s was only partly logged", run.info.run_id, record_id)
    return None


def _search(client: MlflowClient, experiment_ids: list[str], filter_string: str,
            order_by: list[str] | None = None) -> list[Run]:
    """Every matching active run, all pages."""
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, order_by=order_by,
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _log(client: MlflowClient, experiment_id: str, record: dict) -> str:
    started = _ms(record.get("started")) or int(time.time() * 1000)
    ended = _ms(record.get("ended")) or started
    notes: list[str] = []
    tags = _run_tags(record, notes)
    params = _params(record.get("params") or {}, notes)
    metrics = _metrics(record.get("metrics") or {}, ended, notes, "")
    params_json = json.dumps(record.get("params") or {}, sort_keys=True, default=str)
    if len(params_json) <= _MAX_TAG_VALUE:
        tags[TAG_PARAMS_JSON] = params_json

    first = {TAG_RUN_ID: record["id"], TAG_PIPELINE: record["pipeline"]}
    if record.get("sweep_id"):  # a sweep's run is nested under the sweep's run (logged before it)
        sweep = _search(client, [experiment_id], f"tags.`{TAG_RUN_ID}` = '{record['sweep_id']}' "
                        f"and tags.`{TAG_COMPLETE}` = 'true'")
        if sweep:
            first[TAG_PARENT] = sweep[0].info.run_id
        else:
            notes.append(f"sweep {record['sweep_id']} not found in MLflow: logged without its parent")
    run = client.create_run(experiment_id, start_time=started, run_name=record["id"], tags=first)
    run_id = run.info.run_id
    log_batch(client, run_id, metrics, params, tags)
    client.log_text(run_id, json.dumps(record, indent=2, default=str), RECORD_ARTIFACT)
    if record.get("executed_notebook"):  # a notebook run: the executed notebook, and rendered
        notebook = Path(record["executed_notebook"])
        if notebook.is_file():
            client.log_artifact(run_id, str(notebook))
            with tempfile.TemporaryDirectory(prefix="workbench-track-") as scratch:
                html = _render_html(notebook, Path(scratch) / (notebook.stem + ".html"), notes)
                if html is not None:
                    client.log_artifact(run_id, str(html))
        else:
            notes.append(f"executed notebook {notebook} not found")

    with tempfile.TemporaryDirectory(prefix="workbench-track-") as scratch:
        for index, task in enumerate(record.get("tasks") or []):
            _log_task(client, experiment_id, run_id, record, task, index, started, Path(scratch), notes)

    final = {TAG_COMPLETE: "true"}
    if notes:
        final[TAG_NOTES] = _clip("; ".join(notes), _MAX_TAG_VALUE)
        for note in notes:
            logger.warning("MLflow run of %s: %s", record["id"], note)
    log_batch(client, run_id, {}, {}, final)
    status = str(record.get("status") or "FINISHED").upper()
    client.set_terminated(run_id, status=status if status in _TERMINAL else "FAILED", end_time=ended)
    return run_id


def _run_tags(record: dict, notes: list[str]) -> dict[str, str]:
    git = record.get("git") or {}
    tags = {
        TAG_NOTEBOOK: record.get("notebook"),
        TAG_NOTEBOOK_SHA: record.get("notebook_sha256"),
        TAG_DEVICE: record.get("device"),
        TAG_VERSION: record.get("workbench_version"),
        TAG_STATUS: record.get("status"),
        TAG_KIND: record.get("kind") or "pipeline",
        TAG_SWEEP_ID: record.get("sweep_id"),
        TAG_GIT_COMMIT: git.get("commit"),
        TAG_GIT_DIRTY: None if git.get("dirty") is None else ("true" if git["dirty"] else "false"),
        TAG_USER: record.get("user"),
        TAG_SOURCE_NAME: record.get("notebook"),
        TAG_SOURCE_COMMIT: git.get("commit"),
    }
    out = {k: _clip(str(v), _MAX_TAG_VALUE) for k, v in tags.items() if v is not None and v != ""}
    for path, entry in (record.get("data") or {}).items():
        md5 = entry.get("md5") if isinstance(entry, dict) else entry
        if not md5:
            continue
        key = _key(DATA_TAG_PREFIX + _clean_path(str(path)))
        if key != DATA_TAG_PREFIX + str(path):
            notes.append(f"data {path!r} tagged as {key!r}")
        out[key] = _clip(str(md5), _MAX_TAG_VALUE)
    return out


def _params(params: dict, notes: list[str]) -> dict[str, str]:
    from workbench.core.secrets import masked

    out = {}
    for name, value in masked(params).items():  # records are masked already; spooled old ones may not be
        key = _key(str(name))
        if key != name:
            notes.append(f"parameter {name!r} logged as {key!r}")
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > _MAX_PARAM_VALUE:
            notes.append(f"parameter {name!r} shortened to {_MAX_PARAM_VALUE} characters")
            text = text[:_MAX_PARAM_VALUE]
        out[key] = text
    return out


def _metrics(metrics: dict, timestamp: int, notes: list[str], where: str) -> dict[str, tuple[float, int]]:
    """Finite numbers only: MLflow stores NaN, but a NaN metric breaks sorting and charts in the UI."""
    out = {}
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            notes.append(f"metric {where}{name!r} skipped: {value!r} is not a number")
            continue
        if not math.isfinite(number):
            notes.append(f"metric {where}{name!r} skipped: {number} is not finite")
            continue
        key = _key(str(name))
        if key != name:
            notes.append(f"metric {where}{name!r} logged as {key!r}")
        out[key] = (number, timestamp)
    return out


def log_batch(client: MlflowClient, run_id: str, metrics: dict[str, tuple[float, int]],
               params: dict[str, str], tags: dict[str, str]) -> None:
    """As few requests as MLflow's batch limits allow (each one is a round trip to a server)."""
    from mlflow.entities import Metric, Param, RunTag

    metric_list = [Metric(k, v, ts, 0) for k, (v, ts) in metrics.items()]
    param_list = [Param(k, v) for k, v in params.items()]
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    while metric_list or param_list or tag_list:
        client.log_batch(run_id, metrics=metric_list[:_MAX_METRICS_PER_BATCH],
                         params=param_list[:_MAX_PARAMS_TAGS_PER_BATCH], tags=tag_list[:_MAX_PARAMS_TAGS_PER_BATCH])
        metric_list = metric_list[_MAX_METRICS_PER_BATCH:]
        param_list = param_list[_MAX_PARAMS_TAGS_PER_BATCH:]
        tag_list = tag_list[_MAX_PARAMS_TAGS_PER_BATCH:]


def _log_task(client: MlflowClient, experiment_id: str, parent_id: str, record: dict, task: dict,
              index: int, parent_start: int, scratch: Path, notes: list[str]) -> None:
    """One nested run: what a task ran (time, memory, metrics, its executed notebook) or who made it.

    The record gives task durations, not start times (unless the runner adds `started`/`ended` to a
    task); without them a task is placed at the run's start.
    """
    name = str(task.get("name") or f"task{index}")
    status = str(task.get("status") or "")
    start = _ms(task.get("started")) or parent_start
    seconds = task.get("seconds")
    end = _ms(task.get("ended")) or (start + int(round(float(seconds) * 1000)) if _finite(seconds) else start)
    tags = {TAG_PARENT: parent_id, TAG_TASK: name, TAG_PIPELINE: record["pipeline"]}
    if status:
        tags[TAG_STATUS] = status
    if task.get("made_by"):
        tags[TAG_MADE_BY] = str(task["made_by"])
    task_notes: list[str] = []
    metrics: dict[str, tuple[float, int]] = {}
    if status == "ran":
        metrics = _metrics(task.get("metrics") or {}, end, task_notes, f"{name}/")
        for key, value in (("duration_s", seconds), ("peak_rss_mb", task.get("peak_rss_mb")),
                           ("cpu_seconds", task.get("cpu_seconds")), ("gpu_seconds", task.get("gpu_seconds")),
                           ("cost", task.get("cost"))):  # the last three: records since limits and cost
            if _finite(value):
                metrics[key] = (float(value), end)
    run = client.create_run(experiment_id, start_time=start, run_name=name,
                            tags={k: _clip(v, _MAX_TAG_VALUE) for k, v in tags.items()})
    run_id = run.info.run_id
    if status == "ran" and task.get("notebook"):
        notebook = Path(task["notebook"])
        if notebook.is_file():
            client.log_artifact(run_id, str(notebook))
            html = _render_html(notebook, scratch / f"{index}-{name}" / (notebook.stem + ".html"), task_notes)
            if html is not None:
                client.log_artifact(run_id, str(html))
        else:
            task_notes.append(f"task {name}: executed notebook {notebook} not found")
    run_tags = {}
    if task_notes:
        notes.extend(task_notes)
        run_tags[TAG_NOTES] = _clip("; ".join(task_notes), _MAX_TAG_VALUE)
    log_batch(client, run_id, metrics, {}, run_tags)
    client.set_terminated(run_id, status=_TASK_STATUS.get(status, "KILLED"), end_time=end)


_exporter = None


def _render_html(notebook: Path, dest: Path, notes: list[str]) -> Path | None:
    """The executed notebook as standalone HTML, readable in MLflow's artifact viewer.

    nbconvert's HTMLExporter renders from the templates installed with it (no download: works
    offline); the page links MathJax/require.js from a CDN, which only matters for viewing math.
    A notebook that cannot be rendered costs a note, not the tracking of the run.
    """
    global _exporter
    try:
        import nbformat
        from nbconvert import HTMLExporter

        if _exporter is None:  # building the Jinja environment is the slow part: once per process
            _exporter = HTMLExporter()
        body, _ = _exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    except Exception as exc:  # noqa: BLE001 - rendering is a convenience; the .ipynb is logged anyway
        notes.append(f"{notebook.name} not rendered to HTML: {_first_line(exc)}")
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    return dest


def _key(name: str) -> str:
    """A valid MLflow key: letters, digits, `_ - . / : space`, not changed by normpath, <= 250 chars."""
    text = _KEY_BAD_CHARS.sub("_", name)
    parts = [("__" if p == ".." else p) for p in text.split("/") if p not in ("", ".")]
    text = "/".join(parts) or "_"
    if len(text) > _MAX_KEY:
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        text = text[: _MAX_KEY - 9].rstrip("/") + "~" + digest
    return text


def _clean_path(path: str) -> str:
    """`./data/x.csv` and `data//x.csv` are `data/x.csv`: tags should not differ by spelling."""
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/") if path else path


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(seconds: Any) -> int | None:
    return int(round(float(seconds) * 1000)) if _finite(seconds) else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------------
# spool and sync


def _spool_dir(root: Path) -> Path:
    return Path(root) / WORKBENCH_DIR / SPOOL_DIR


def spool(record: dict, root: Path) -> Path:
    """Keep a record that could not be logged in `<root>/.workbench/unsynced/<id>.json` for `sync`.

    Written atomically (temporary file, fsync, rename) so that a crash or a concurrent sync never
    sees half a record.
    """
    _check_record(record)
    folder = _spool_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{record['id']}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{record['id']}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One sync at a time per project, so two never deliver the same record at once."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: idempotent logging still prevents most duplicates
        yield
        return
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def sync(root: Path, uri: str | None = None) -> list[tuple[str, str]]:
    """Deliver every spooled record, oldest run first; returns [(record id, MLflow run id)].

    A spool file is removed only once its record is in MLflow. When the server is still down the
    rest stay spooled and TrackingUnavailable is raised; a record MLflow refuses stays spooled too
    and a TrackingError is raised after the others were tried. Either error carries the pairs that
    were delivered before it as `.delivered`. Records already in MLflow are not logged twice.
    """
    folder = _spool_dir(root)
    if not folder.is_dir():
        return []
    delivered: list[tuple[str, str]] = []
    refused: list[tuple[str, TrackingError]] = []
    with _locked(folder):
        pending = []
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                _check_record(record)
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("skipping unreadable spooled record %s: %s", path, exc)
                continue
            started = record.get("started")
            pending.append((float(started) if _finite(started) else math.inf, record["id"], path, record))
        for _started, record_id, path, record in sorted(pending, key=lambda p: (p[0], p[1])):
            try:
                run_id = log_run(record, root, uri)
            except TrackingUnavailable as exc:
                exc.delivered = delivered
                raise
            except TrackingError as exc:
                refused.append((record_id, exc))
                continue
            path.unlink(missing_ok=True)
            delivered.append((record_id, run_id))
    if refused:
        error = TrackingError(
            f"MLflow refused {len(refused)} spooled run(s); they stay in {folder}",
            hint="see the reasons above; remove a spool file to give up on that run",
            detail="\n".join(f"{rid}: {exc.message}: {exc.detail}" for rid, exc in refused),
        )
        error.delivered = delivered
        raise error
    return delivered


# --------------------------------------------------------------------------------------------------
# reading back


def find_runs(root: Path, pipeline: str | None = None, uri: str | None = None) -> list[dict]:
    """The Workbench runs MLflow holds (fully logged; not task runs nor sweep parents), newest first.

    Each is rebuilt from the run's tags, params and metrics (no artifact download):
    `{"id", "mlflow_run_id", "status", "started", "ended", "params", "metrics", "data", "git",
    "pipeline", "notebook", "notebook_sha256", "device", "workbench_version"}`. Parameters come back
    with their JSON types when the record's parameters fitted in a tag, else as strings.
    """
    root = Path(root)
    uri = uri or default_tracking_uri(root)
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        return []  # nothing logged yet: do not create a store just to find it empty
    with mlflow_session(), translate_errors(uri, "list runs"):
        client = mlflow_client(uri)
        if pipeline is not None:
            experiment = client.get_experiment_by_name(EXPERIMENT_PREFIX + pipeline)
            experiments = [experiment] if experiment is not None and experiment.lifecycle_stage == "active" else []
        else:
            experiments = _workbench_experiments(client)
        if not experiments:
            return []
        runs = _search(client, [e.experiment_id for e in experiments], f"tags.`{TAG_COMPLETE}` = 'true'",
                       order_by=["attributes.start_time DESC"])
    # runs, not their task runs (nested) nor the parents of sweeps (whose own runs are listed)
    found = [_from_run(run) for run in runs
             if TAG_TASK not in run.data.tags and run.data.tags.get(TAG_KIND) != "sweep"]
    found.sort(key=lambda r: r["started"] or 0, reverse=True)  # one order across experiments
    return found


def _workbench_experiments(client: MlflowClient) -> list:
    experiments: list = []
    token = None
    while True:
        page = client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'",
                                         max_results=1000, page_token=token)
        experiments.extend(e for e in page if e.name.startswith(EXPERIMENT_PREFIX))
        token = page.token
        if not token:
            return experiments


def _from_run(run: Run) -> dict:
    tags = run.data.tags
    params: dict[str, Any] = dict(run.data.params)
    if TAG_PARAMS_JSON in tags:
        with contextlib.suppress(ValueError):
            params = json.loads(tags[TAG_PARAMS_JSON])
    dirty = tags.get(TAG_GIT_DIRTY)
    return {
        "id": tags.get(TAG_RUN_ID),
        "mlflow_run_id": run.info.run_id,
        "status": run.info.status,
        "started": run.info.start_time / 1000 if run.info.start_time is not None else None,
        "ended": run.info.end_time / 1000 if run.info.end_time is not None else None,
        "params": params,
        "metrics": dict(run.data.metrics),
        "data": {k[len(DATA_TAG_PREFIX):]: v for k, v in sorted(tags.items()) if k.startswith(DATA_TAG_PREFIX)},
        "git": {"commit": tags.get(TAG_GIT_COMMIT), "dirty": None if dirty is None else dirty == "true"},
        "pipeline": tags.get(TAG_PIPELINE),
        "notebook": tags.get(TAG_NOTEBOOK),
        "notebook_sha256": tags.get(TAG_NOTEBOOK_SHA),
        "device": tags.get(TAG_DEVICE),
        "workbench_version": tags.get(TAG_VERSION),
        "kind": tags.get(TAG_KIND, "pipeline"),
        "sweep_id": tags.get(TAG_SWEEP_ID),
    }
