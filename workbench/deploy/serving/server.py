"""`workbench serve`: one model (or two, as shadow or canary) over HTTP with MLflow's scoring server.

Design: one process, one asyncio event loop, one ASGI app served by uvicorn. The app
(`serving_app.ServingApp`) wraps the FastAPI app MLflow's scoring server builds for each model, so
the HTTP interface is MLflow's (`POST /invocations` with `dataframe_split`, `dataframe_records`,
`instances`, `inputs`, CSV or Parquet; `GET /ping`, `/health`, `/version`), and adds a router in
front for shadow and canary serving. One process rather than one server per model: the two models
see the same requests without a proxy hop, and the counters and request log live in one place.

Around the app this module does what a user of the command needs:

* resolves what was typed (`serving_models.resolve`: `NAME@alias`, `NAME/3`, `models:/...`, a
  folder) in the project's tracking store, and fails early and clearly (unknown name or alias,
  not a model folder, port in use: the port is bound before the models load);
* keeps the request log (`serving_log.RequestLog`) under `<root>/.workbench/serving/<name>/`, which
  monitoring reads;
* records the session as an MLflow run in the experiment `workbench/serve/<name>`: parameters (models,
  mode, percentage), metrics every `report_every` seconds and at shutdown (requests and errors per
  model, latency, shadow agreement), and at shutdown the request log and, in shadow mode, the
  prediction pairs as JSONL artifacts. A tracking store that fails costs a warning, never serving;
* prints the URL and a curl that works for this model, and stops cleanly on Ctrl-C or SIGTERM:
  in-flight requests and shadow scorings finish, the log is flushed, the run is closed, exit 0.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["PortInUse", "ServeError", "ServeOptions", "ServingRun", "bind", "parse_canary", "serve"]

DEFAULT_PORT = 8000
SERVING_DIR = Path(".workbench") / "serving"
EXPERIMENT = "serve/{name}"          # under tracking's `workbench/` prefix
MAX_ARTIFACT_BYTES = 200 * 1024**2   # a larger request log stays local only


class ServeError(WorkbenchError):
    """`workbench serve` cannot start as asked."""


class PortInUse(ServeError):
    """Another process listens on the port."""


@dataclass
class ServeOptions:
    model: str
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    shadow: str | None = None
    canary: str | None = None        # "MODEL:PERCENT", or "MODEL" with ramp
    ramp: str | None = None          # "5,25,50,100": the canary widens step by step (rollout.py)
    step: str | None = None          # "10m": how long each step of the ramp lasts
    promote: bool = False            # with ramp: a canary healthy to the end takes the primary's alias
    follow_every: float | None = 10.0  # NAME@ALIAS: poll the alias this often and switch (None: pinned)
    ab: str | None = None            # "MODEL:PERCENT": A/B test, arm B answers PERCENT % (ab.py)
    seed: int = 0
    name: str | None = None
    report_every: float = 60.0
    track: bool = True
    log_sample: float = 1.0          # fraction of requests written to the request log


def parse_canary(text: str) -> tuple[str, float]:
    """`MODEL:PERCENT` (`churn/4:10`, `models:/churn@challenger:25`) as (model, percent)."""
    from workbench.deploy.serving.rollout import split_share

    model, value = split_share(text)
    if value is None or not 0 < value <= 100:
        raise ServeError(f"--canary {text}: expected MODEL:PERCENT with 0 < PERCENT <= 100",
                         hint="e.g. --canary churn@challenger:10 sends about 10% of requests to it")
    return model, value


def _canary_spec(opts: ServeOptions) -> tuple[str, float]:
    """(model, first share): `--canary MODEL:PERCENT` fixed, or `--canary MODEL --ramp ...`."""
    if not opts.ramp:
        if opts.step:
            raise ServeError("--step needs --ramp", hint="e.g. --canary churn@challenger --ramp 5,25,50,100 --step 10m")
        return parse_canary(opts.canary)
    from workbench.deploy.serving.rollout import parse_ramp, split_share

    model, share = split_share(opts.canary)
    if share is not None:
        raise ServeError(f"--canary {opts.canary} with --ramp: give the model only",
                         hint=f"--canary {model} --ramp {opts.ramp} (the ramp sets the share)")
    return opts.canary, parse_ramp(opts.ramp)[0]


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one), or a clear error; uvicorn listens on it."""
    try:
        family, _, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: not an address of this machine ({exc.strerror})",
                         hint="use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every keep-alive reply waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use",
                            hint=f"stop what listens there (`lsof -i :{port}`), or choose another port: "
                                 "--port 8001, or --port 0 for any free one") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"not allowed to listen on port {port}",
                             hint="ports below 1024 need privileges: choose --port 8000 or above") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="check --host and --port") from None
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def model_slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "model"


# --------------------------------------------------------------------------------------------------
# the MLflow run of a serving session


class ServingRun:
    """The serving session as an MLflow run; every method warns instead of raising when MLflow fails."""

    def __init__(self, root: Path, uri: str, name: str, session: str,
                 warn: Callable[[str], None]) -> None:
        from workbench.provenance.tracking import BestEffortTracking

        self.root, self.uri, self.name, self.session = Path(root), uri, name, session
        self.run_id: str | None = None
        self.experiment = "workbench/" + EXPERIMENT.format(name=name)
        self._step = 0
        self._call = BestEffortTracking(uri, warn).call

    def start(self, params: dict[str, Any], tags: dict[str, str]) -> str | None:
        from workbench.provenance.tracking import artifact_location_for, experiment_for, log_batch

        def start(client: Any) -> str:
            experiment_id = experiment_for(client, EXPERIMENT.format(name=self.name),
                                           artifact_location_for(self.uri, self.root))
            run = client.create_run(experiment_id, run_name=self.session,
                                    tags={"workbench.serving.session": self.session, **tags})
            log_batch(client, run.info.run_id, {}, {k: str(v) for k, v in params.items() if v is not None}, {})
            return run.info.run_id

        self.run_id = self._call("start the serving run", start)
        return self.run_id

    def set_tag(self, key: str, value: str) -> None:
        if self.run_id is not None:
            self._call("tag the serving run", lambda client: client.set_tag(self.run_id, key, value[:5000]))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), self._step
        self._step += 1
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        self._call("log serving metrics", lambda client: client.log_batch(self.run_id, metrics=batch))

    def finish(self, metrics: dict[str, float], log_path: Path, shadow: bool) -> None:
        if self.run_id is None:
            return
        self.log_metrics(metrics)

        def finish(client: Any) -> None:
            size = log_path.stat().st_size if log_path.exists() else 0
            if 0 < size <= MAX_ARTIFACT_BYTES:
                import shutil
                import tempfile

                with tempfile.TemporaryDirectory(prefix="workbench-serve-") as scratch:
                    requests = Path(scratch) / "requests.jsonl"
                    shutil.copyfile(log_path, requests)
                    client.log_artifact(self.run_id, str(requests), "serving")
                    if shadow:
                        pairs = Path(scratch) / "shadow_pairs.jsonl"
                        _write_pairs(log_path, pairs)
                        client.log_artifact(self.run_id, str(pairs), "serving")
            elif size:
                client.set_tag(self.run_id, "workbench.serving.log_not_uploaded",
                               f"{size} bytes; kept at {log_path}")
            client.set_terminated(self.run_id, "FINISHED")

        self._call("close the serving run", finish)


def _write_pairs(log_path: Path, out: Path) -> int:
    """The shadow mode's prediction pairs, one line per request, from the request log."""
    count = 0
    with log_path.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            shadow = entry.get("shadow") or {}
            dst.write(json.dumps({
                "id": entry.get("id"), "ts": entry.get("ts"),
                "primary": entry.get("model"), "primary_status": entry.get("status"),
                "primary_predictions": entry.get("predictions"),
                "shadow": shadow.get("model"), "shadow_status": shadow.get("status"),
                "shadow_predictions": shadow.get("predictions"), "shadow_skipped": shadow.get("skipped", False),
            }, separators=(",", ":")) + "\n")
            count += 1
    return count


class _Reporter(threading.Thread):
    """Logs a metrics snapshot every `interval` seconds until stopped."""

    def __init__(self, interval: float, report: Callable[[], None]) -> None:
        super().__init__(name="workbench-serve-metrics", daemon=True)
        self.interval, self.report, self.stopped = interval, report, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.report()


# --------------------------------------------------------------------------------------------------
# the server


def _uvicorn_server(app: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # noqa: ANN202 - uvicorn's signature
            """Ctrl-C and SIGTERM stop the server gracefully. Unlike uvicorn's own handler, the signal
            is not raised again afterwards, so that the log is flushed and the MLflow run closed."""
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=15)
    return Server(config)


def serve(opts: ServeOptions, progress: Callable[[str], None] | None = None,
          out: Callable[[str], None] | None = None) -> int:
    """Serve until interrupted; returns the exit status. `progress` gets stderr lines, `out` stdout ones."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    progress = progress or (lambda m: print(m, file=sys.stderr, flush=True))
    out = out or (lambda m: print(m, flush=True))

    from workbench.core.project import project_root
    from workbench.deploy.serving import models as models
    from workbench.provenance.records import new_run_id
    from workbench.provenance.tracking import default_tracking_uri, redact_uri

    second_spec, percent, mode = None, 0.0, "single"
    if opts.shadow and opts.canary:
        raise ServeError("--shadow and --canary cannot be combined", hint="choose one second model and mode")
    if opts.shadow:
        second_spec, mode = opts.shadow, "shadow"
    elif opts.canary:
        second_spec, percent = _canary_spec(opts)
        mode = "canary"
    elif opts.ramp or opts.step:
        raise ServeError("--ramp and --step are for a canary", hint="add --canary MODEL2, e.g. "
                         "--canary churn@challenger --ramp 5,25,50,100 --step 10m")
    if opts.ab:
        from workbench.deploy.serving.ab import parse_ab

        if second_spec:
            raise ServeError(f"--ab cannot be combined with --{mode}", hint="choose one second model and mode")
        second_spec, percent = parse_ab(opts.ab)
        mode = "ab"
    if not 0 < opts.log_sample <= 1:
        raise ServeError(f"--log-sample {opts.log_sample}: must be a fraction in (0, 1]",
                         hint="e.g. --log-sample 0.1 logs one request in ten")
    if opts.report_every <= 0:
        raise ServeError(f"--report-every {opts.report_every}: must be more than 0 seconds",
                         hint="e.g. --report-every 60")

    root = project_root(Path.cwd())
    uri = default_tracking_uri(root)
    # the serving process is the project's: MLflow calls made by the scoring server and by the
    # versions it loads (models.load puts back what it finds) go to the project's store
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    primary = models.resolve(opts.model, root, uri)
    second = models.resolve(second_spec, root, uri) if second_spec else None
    if second is not None and second.label == primary.label:
        raise ServeError(f"--{mode} names the model being served ({primary.label})",
                         hint=f"give a different version or alias as the {mode} model")
    if opts.promote:
        _check_promote(opts, primary, second)  # before anything is loaded
    sock = bind(opts.host, opts.port)
    try:
        loaded = {}
        for ref in (primary, second):
            if ref is None:
                continue
            started = time.perf_counter()
            progress(f"loading {ref.describe()} ...")
            loaded[ref.label] = models.load(ref, uri)
            progress(f"loaded {ref.label} in {time.perf_counter() - started:.1f}s")
        return _run(opts, sock, root, uri, primary, second, loaded, mode, percent, progress, out,
                    new_run_id(), redact_uri(uri))
    finally:
        sock.close()


def _run(opts: ServeOptions, sock: socket.socket, root: Path, uri: str, primary: Any, second: Any,
         loaded: dict, mode: str, percent: float, progress: Callable[[str], None],
         out: Callable[[str], None], session: str, shown_uri: str) -> int:
    from workbench.deploy.serving.app import build_app
    from workbench.deploy.serving.models import example_request
    from workbench.deploy.serving.request_log import RequestLog, ServingStats

    name = model_slug(opts.name or primary.name)
    log_path = Path(root) / SERVING_DIR / name / f"{session}.jsonl"
    from workbench.deploy.serving import models as models
    from workbench.deploy.serving.metrics import ServingMetrics

    stats = ServingStats({"canary": ("primary", "canary"), "ab": ("primary", "ab")}.get(mode, ("primary",)))
    profile = models.training_profile(primary, uri)
    metrics = ServingMetrics(profile)
    log = RequestLog(log_path, stats, sample=opts.log_sample, observers=[metrics.observe_line])
    app = build_app((primary.label, loaded[primary.label]),
                    (second.label, loaded[second.label]) if second is not None else None,
                    mode=mode, percent=percent, seed=opts.seed, log=log, stats=stats)
    app.metrics = metrics
    app.add_route("/metrics", metrics.app())
    from workbench.deploy.serving.feedback import FEEDBACK_DIR, FeedbackLog, feedback_app

    app.add_route("/feedback", feedback_app(FeedbackLog(log_path.parent / FEEDBACK_DIR / f"{session}.jsonl")))
    if profile is not None:  # `workbench monitor` compares the log with it
        (log_path.parent / "training_profile.json").write_text(json.dumps(profile))

    tracking = opts.track and os.environ.get("WORKBENCH_TRACKING", "").strip().lower() != "off"
    run = ServingRun(root, uri, name, session, progress) if tracking else None
    if run is not None:
        params = {"model": primary.label, "model_uri": primary.uri, "mode": mode,
                  "second_model": second.label if second else None,
                  "second_model_uri": second.uri if second else None,
                  "canary_percent": percent if mode == "canary" else None,
                  "ab_percent": percent if mode == "ab" else None,
                  "canary_seed": opts.seed if mode == "canary" else None,
                  "url": _url(sock), "request_log": str(log_path)}
        tags = {"workbench.serving.model": primary.label, "workbench.serving.mode": mode}
        for role, ref in (("model", primary), ("second_model", second)):
            if ref is not None and ref.tags.get("workbench.run_id"):
                tags[f"workbench.serving.{role}_run_id"] = ref.tags["workbench.run_id"]
        run.start(params, tags)
    out_lines = _rollout(app, opts, root, uri, name, primary, second, mode, run, progress)
    shadow = mode == "shadow"
    reporter = None
    if run is not None and run.run_id is not None:
        reporter = _Reporter(opts.report_every, lambda: run.log_metrics(stats.snapshot(shadow)))
        reporter.start()

    url = _url(sock)
    out(f"serving {primary.describe()} at {url}")
    if mode == "shadow":
        out(f"  shadow: {second.label} scores every request too; its answers are logged, never returned")
    elif mode == "canary":
        out(f"  canary: {second.label} answers about {percent:g}% of requests "
            "(the X-Workbench-Model header of each reply says which model answered)")
    elif mode == "ab":
        out(f"  A/B: arm B {second.label} answers {percent:g}% of requests, arm A {primary.label} the rest "
            "(by a hash of X-Workbench-Route-Key, else of the request id)")
    for line in out_lines:
        out(line)
    out(f"  request log: {_display(log_path)}"
        + (f" ({opts.log_sample:.0%} of requests)" if opts.log_sample < 1 else ""))
    out(f"  outcomes: POST {url}/feedback {{\"id\": REQUEST_ID, \"outcome\": VALUE}} (or `workbench feedback`)")
    out(f"  Prometheus metrics: {url}/metrics" + ("" if profile else " (no training profile: feature buckets from traffic)"))
    if run is not None and run.run_id is not None:
        out(f"  MLflow run: {run.run_id} in experiment {run.experiment} ({shown_uri})")
    out("try:")
    out(f"  curl -s {url}/invocations -H 'Content-Type: application/json' "
        f"-d {shlex.quote(example_request(loaded[primary.label]))}")
    out("Ctrl-C stops (the log is flushed and the MLflow run closed).")

    server = _uvicorn_server(app)
    try:
        server.run(sockets=[sock])
    finally:
        if reporter is not None:
            reporter.stopped.set()
            reporter.join(timeout=10)
        log.close()
        snapshot = stats.snapshot(shadow)
        if run is not None:
            run.finish(snapshot, log_path, shadow)
        progress(_summary(snapshot, primary.label, second.label if second else None, log.written, log_path))
    return 0


def _rollout(app: Any, opts: ServeOptions, root: Path, uri: str, name: str, primary: Any, second: Any,
             mode: str, run: ServingRun | None, progress: Callable[[str], None]) -> list[str]:
    """Blue/green and the canary's ramp (rollout.py) hooked into the app; the lines to print."""
    from workbench.deploy.serving import rollout

    ramp = step = rules = None
    if mode == "canary" and opts.ramp:
        rules = rollout.load_canary_rules(rollout.checks_file_for(second, root)
                                          or rollout.checks_file_for(primary, root))
        ramp = rollout.parse_ramp(opts.ramp)
        step = rollout.parse_duration(opts.step) if opts.step else (
            rules.step or rollout.parse_duration(rollout.DEFAULT_STEP))
    if opts.follow_every is not None and opts.follow_every <= 0:
        raise ServeError(f"--follow-every {opts.follow_every}: must be more than 0 seconds", hint="e.g. --follow-every 10")
    on_switch = None
    if run is not None and run.run_id is not None:
        def on_switch(old: str, new: str, what: str) -> None:
            run.set_tag(f"workbench.serving.switch.{time.strftime('%Y%m%d-%H%M%S')}-{new.replace('/', '_')}",
                        f"{old} -> {new}: {what}")
            if what == "switched":
                run.set_tag("workbench.serving.model_now", new)
    tracking = run is not None and run.run_id is not None
    return rollout.attach(app, root=root, uri=uri, name=name, primary=primary, second=second,
                          follow_every=opts.follow_every, ramp=ramp, step=step, rules=rules,
                          track=tracking, progress=progress, on_switch=on_switch,
                          serving_run_id=run.run_id if tracking else None,
                          promote=_promoter(root, primary, second) if opts.promote else None)


def _check_promote(opts: ServeOptions, primary: Any, second: Any) -> None:
    """`--promote` needs an alias to move and a registered version to move it to."""
    if not opts.ramp:
        raise ServeError("--promote needs a canary with --ramp",
                         hint="e.g. --canary churn@challenger --ramp 5,25,50,100 --step 10m --promote")
    if not primary.alias:
        raise ServeError(f"--promote moves the alias of the model being served, and {opts.model} names none",
                         hint=f"serve it by alias, e.g. workbench serve {primary.name}@champion ... --promote")
    if second.version is None or second.name != primary.name:
        raise ServeError(f"--promote: the canary {second.label} is not a registered version of {primary.name}",
                         hint=f"give the canary as {primary.name}/VERSION or {primary.name}@ALIAS")


def _promoter(root: Path, primary: Any, second: Any) -> Callable[[], tuple[bool, str]]:
    """`--promote`: the call that moves the primary's alias to the canary's version, with the gate
    `workbench promote` applies; it returns (moved, why) and never raises for a refusal."""

    def promote() -> tuple[bool, str]:
        from workbench.deploy.registry import promote as move_alias

        result = move_alias(primary.name, primary.alias, root, version=second.version)
        where = f"{primary.name}@{primary.alias}"
        if result.moved:
            return True, f"{second.label} is {where} now (was {primary.name}/{result.previous}) and answers every request"
        failures = "; ".join(f"{row.metric}: {row.why}" for row in (result.gate.failures if result.gate else []))
        return False, (f"the promotion gate refused {second.label} as {where}: {failures}" if failures
                       else "; ".join(result.notes) or f"{where} did not move")

    return promote


def _summary(snapshot: dict[str, float], primary: str, second: str | None, written: int, log_path: Path) -> str:
    total = int(snapshot.get("requests_total", 0))
    parts = [f"{primary}: {int(snapshot.get('requests_primary', 0))}"]
    if snapshot.get("requests_canary"):
        parts.append(f"{second}: {int(snapshot['requests_canary'])}")
    if snapshot.get("requests_ab"):
        parts.append(f"{second}: {int(snapshot['requests_ab'])}")
    text = f"stopped after {total} request(s) ({', '.join(parts)}), {int(snapshot.get('errors_total', 0))} error(s)"
    if "shadow_requests" in snapshot:
        text += f"; shadow {second} scored {int(snapshot['shadow_requests'])}"
        if "shadow_agreement_rate" in snapshot:
            text += f", agreement {snapshot['shadow_agreement_rate']:.1%}"
    return text + f"; {written} line(s) in {_display(log_path)}"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
