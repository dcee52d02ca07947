"""The `/workbench/api/` handlers.

Every handler is a Jupyter `APIHandler` and every method is `@tornado.web.authenticated`: the
server's token or login cookie is required, and with cookie authentication a state-changing request
must carry the XSRF token (Jupyter checks it). Paths are relative to the server's root directory;
absolute paths are refused (400), and anything that leads outside the root (`..`, a symlink) is
refused (403), so the API reaches no more of the disk than Jupyter's own contents API.

Planning and exporting read files and parse code, which takes milliseconds to a second: plans are
computed in worker processes and cached by content (server/plans.py), exports run in a thread of
the event loop's executor, so the server keeps answering meanwhile.

Errors are JSON `{"error": {"kind", "message", "hint", "detail", "location"}}`: a notebook the
planner rejects is 400 with the cell and line in `location`; an export that would overwrite a
hand-edited file is 409.

Jobs (`POST jobs {"action": "run"|"verify"|"package", "path", "params"?, "force"?}` -> 202 and the
job's id; `GET jobs/ID`; `DELETE jobs/ID` cancels) run the CLI with `--events jsonl` (jobs.py).
`GET jobs/ID` answers the job: id, action, path, params, force, status (running | succeeded |
failed | cancelled), started, ended, returncode, error (why it failed: the CLI's error), tasks
({task: pending | running | done | up to date | failed | cancelled}), events (each event dict as
`workbench.core.events.Event.to_dict()` gives it, with "event", "status" and "time", seconds since
the job started), verify (verify jobs, once the verdict came: {"ok", "summary", "rows": [{"task",
"name", "verdict", "detail"}]}; else null), stdout (the JSON lines), stderr, products ({task:
{variable: bytes}}), argv and pid. `GET jobs` lists them without events, output and products.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from workbench.core.errors import WorkbenchError
from workbench.lab.server.jobs import JobManager
from workbench.lab.server.plans import PlanCache, PlanWorkers, with_members

ACTIONS = ("run", "verify", "package")  # package: the model of the latest run (workbench package)
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ApiError(Exception):
    """A request the API refuses: its status and the error dict the client gets."""

    def __init__(self, status: int, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = {"kind": kind, "message": message, "hint": hint, "detail": "", "location": None}


class State:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs = JobManager(root)
        self.plans = PlanCache()
        self.planners = PlanWorkers()


def resolve(root: Path, path: object, what: str = "path", *, suffixes: tuple[str, ...] = (".ipynb",),
            directory_ok: bool = False, must_exist: bool = True) -> tuple[Path, str]:
    """(absolute path inside root, the path as given, normalised) or ApiError (400/403/404)."""
    if not isinstance(path, str) or not path.strip():
        raise ApiError(400, "BadRequest", f"'{what}' is required: a path relative to the Jupyter root")
    if "\0" in path or "\\" in path:
        raise ApiError(400, "BadRequest", f"'{what}' holds a character a path here may not hold")
    if path.startswith("/") or os.path.isabs(path) or re.match(r"^[A-Za-z]:", path):
        raise ApiError(400, "BadRequest", f"absolute paths are refused: {path!r}",
                       hint="give the path relative to the folder Jupyter serves")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise ApiError(403, "Forbidden", f"{path!r} leads outside the folder Jupyter serves")
    full = (root / pure).resolve()
    if full != root and root not in full.parents:
        raise ApiError(403, "Forbidden", f"{path!r} leads outside the folder Jupyter serves (a symlink)")
    shown = pure.as_posix()
    if must_exist and not full.exists():
        raise ApiError(404, "NotFound", f"{shown}: no such file", hint="check the path (relative to the Jupyter root)")
    if full.is_dir():
        if not directory_ok:
            raise ApiError(400, "BadRequest", f"{shown} is a folder; give the path of a notebook (.ipynb)")
    elif suffixes and pure.suffix not in suffixes:
        raise ApiError(400, "BadRequest", f"{shown} is not a notebook ({', '.join(suffixes)})")
    return full, shown


def _default_pipeline(root: Path, notebook: str) -> Path:
    """Where `workbench run NOTEBOOK` from the Jupyter root puts its pipeline (pipelines/<name>/,
    or a folder of its own when another notebook of the same name has that one)."""
    from workbench.refactor.export import pipeline_dir_for

    return pipeline_dir_for(root / PurePosixPath(notebook), root / "pipelines")


def runs_root(root: Path, pipeline: str | None) -> Path:
    """The project whose runs the panel lists for `pipeline`: where `workbench run` records them
    when a job runs the notebook from the Jupyter root (into pipelines/NAME there), by
    core.project's rule, with the notebook's folder from the exported pipeline.yaml."""
    from workbench.core.plan import slug
    from workbench.core.project import project_root
    from workbench.execute.build import notebook_dir_of

    folder = root / "pipelines" / slug(pipeline) if pipeline else root / "pipelines"
    if not (folder / "pipeline.yaml").is_file():
        return project_root(folder)  # never exported here: runs recorded above, if any
    return project_root(folder, notebook_dir_of(folder) / f"{folder.name}.ipynb")


def _plan_file(full: Path, shown: str):
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan

    return build_plan(read_notebook(full, shown))


def _read_bytes(full: Path, shown: str) -> bytes:
    """A notebook's bytes; unreadable is the error `workbench plan` gives for it."""
    from workbench.refactor.notebook import read_notebook

    try:
        return full.read_bytes()
    except OSError:
        read_notebook(full, shown)  # raises the WorkbenchError that explains it
        raise


class BaseHandler(APIHandler):
    def initialize(self, state: State) -> None:
        self.state = state

    @property
    def root(self) -> Path:
        return self.state.root

    def reply(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def fail(self, status: int, error: dict) -> None:
        self.reply({"error": error}, status)

    def body(self) -> dict:
        if not self.request.body:
            return {}
        try:  # not get_json_body(): it logs a traceback for every malformed body
            data = json.loads(self.request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "BadRequest", "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        return data

    async def run(self, coro_fn) -> None:
        """Run a handler body, turning refusals and Workbench errors into JSON replies."""
        try:
            await coro_fn()
        except ApiError as exc:
            self.fail(exc.status, exc.error)
        except WorkbenchError as exc:
            from workbench.refactor.export import ExportConflict

            self.fail(409 if isinstance(exc, ExportConflict) else 400, exc.to_dict())

    @staticmethod
    async def in_thread(fn, *args):
        return await IOLoop.current().run_in_executor(None, fn, *args)


class PlanHandler(BaseHandler):
    """Plans by content: the same bytes at the same path are planned once (see server/plans.py)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        async def body():
            full, shown = resolve(self.root, self.get_query_argument("path", ""))
            await self.reply_plan(await self.in_thread(_read_bytes, full, shown), shown, full)

        await self.run(body)

    @tornado.web.authenticated
    async def post(self) -> None:
        async def body():
            data = self.body()
            content = data.get("content")
            full, shown = resolve(self.root, data.get("path"), must_exist=content is None)
            if content is None:
                raw = await self.in_thread(_read_bytes, full, shown)
            elif isinstance(content, str):
                raw = content.encode("utf-8")
            elif isinstance(content, dict):
                raw = json.dumps(content).encode("utf-8")
            else:
                raise ApiError(400, "BadRequest", "'content' must be the notebook as a JSON object")
            await self.reply_plan(raw, shown, full)

        await self.run(body)

    async def reply_plan(self, raw: bytes, shown: str, full: Path) -> None:
        outcome = await self.state.plans.get(PlanCache.key(shown, raw, str(full)),
                                             lambda: self.state.planners.plan(raw, shown, str(full)))
        if outcome.error is not None:
            self.fail(400, outcome.error)
            return
        # the pipeline this notebook exports to and records its runs under: pipelines/<name>/, or
        # a folder of its own when another notebook of the same name has that one. Not cached with
        # the plan: it changes when a notebook of the same name is exported.
        folder = await self.in_thread(_default_pipeline, self.root, shown)
        pipeline = {"name": folder.name, "directory": folder.relative_to(self.root).as_posix()}
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        self.finish(with_members(outcome.body, {"pipeline": pipeline}))


class ExportHandler(BaseHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def body():
            data = self.body()
            full, shown = resolve(self.root, data.get("path"))
            if data.get("output") in (None, ""):
                out = _default_pipeline(self.root, shown)
            else:
                out, _ = resolve(self.root, data["output"], "output", suffixes=(), directory_ok=True,
                                 must_exist=False)
            if out == self.root:
                raise ApiError(400, "BadRequest", "'output' must be a folder below the Jupyter root")
            force = bool(data.get("force", False))

            def work():
                from workbench.refactor.export import export

                return export(_plan_file(full, shown), out, full, force=force)

            result = await self.in_thread(work)
            self.reply({"directory": out.relative_to(self.root).as_posix(), "written": result.written,
                        "unchanged": result.unchanged, "backups": result.backups, "removed": result.removed})

        await self.run(body)


class JobsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply({"jobs": [job.to_dict(brief=True) for job in self.state.jobs.list()]})

    @tornado.web.authenticated
    async def post(self) -> None:
        async def body():
            data = self.body()
            action = data.get("action")
            if action not in ACTIONS:
                raise ApiError(400, "BadRequest", f"'action' must be one of {', '.join(ACTIONS)}, not {action!r}")
            full, shown = resolve(self.root, data.get("path"), directory_ok=action in ("run", "package"))
            params = data.get("params") or {}
            if not isinstance(params, dict):
                raise ApiError(400, "BadRequest", "'params' must be an object {name: value}")
            for name in params:
                if not PARAM_NAME.match(str(name)):
                    raise ApiError(400, "BadRequest", f"{name!r} is not a parameter name")
            params = {str(k): v if isinstance(v, str) else repr(v) for k, v in params.items()}
            if full.is_dir():
                from workbench.execute.build import load_plan

                plan, pipeline = await self.in_thread(load_plan, full), full
            else:
                plan = await self.in_thread(_plan_file, full, shown)  # a broken notebook is a 400 now
                pipeline = _default_pipeline(self.root, shown)
            if params:  # names and types checked now (400), as the CLI would (ParameterError)
                from workbench.refactor.params import parse_overrides

                parse_overrides([f"{k}={v}" for k, v in params.items()], plan.parameters, plan.notebook,
                                {c.index: c.id for c in plan.cells})
            argument = shown if not shown.startswith("-") else f"./{shown}"
            if action == "package":
                if params:
                    raise ApiError(400, "BadRequest", "package takes no parameters: it packages the model of a run",
                                   hint="run with the parameters first, then package")
                if not any(t.model for t in plan.tasks):
                    raise ApiError(400, "BadRequest", f"{shown} has no model to package",
                                   hint="tag the cell that fits the model `model:VAR`")
            job = await self.state.jobs.start(action, argument, params, bool(data.get("force", False)),
                                              list(plan.order) if action != "package" else [], pipeline)
            job.path = shown
            self.reply({"id": job.id, "job": job.to_dict(brief=True)}, 202)

        await self.run(body)


class JobHandler(BaseHandler):
    def job(self, job_id: str):
        job = self.state.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "NotFound", f"no job {job_id!r}", hint="GET /workbench/api/jobs lists them")
        return job

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        async def body():
            self.reply(self.job(job_id).to_dict())

        await self.run(body)

    @tornado.web.authenticated
    async def delete(self, job_id: str) -> None:
        async def body():
            job = await self.state.jobs.cancel(self.job(job_id))
            self.reply(job.to_dict())

        await self.run(body)


class RunsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        async def body():
            pipeline = self.get_query_argument("pipeline", None) or None

            def work():
                from workbench.provenance.records import load_records

                return load_records(runs_root(self.root, pipeline), pipeline)

            runs = await self.in_thread(work)
            self.reply({"runs": runs, "mlflow_ui": os.environ.get("MLFLOW_UI_URL")})

        await self.run(body)


def setup_handlers(serverapp) -> None:
    web_app = serverapp.web_app
    state = State(Path(serverapp.root_dir).expanduser().resolve())
    base = url_path_join(web_app.settings["base_url"], "workbench", "api")
    kwargs = {"state": state}
    web_app.add_handlers(".*$", [
        (url_path_join(base, "plan"), PlanHandler, kwargs),
        (url_path_join(base, "export"), ExportHandler, kwargs),
        (url_path_join(base, "jobs"), JobsHandler, kwargs),
        (url_path_join(base, "jobs", r"(?P<job_id>[0-9a-f]+)"), JobHandler, kwargs),
        (url_path_join(base, "runs"), RunsHandler, kwargs),
    ])
    serverapp.log.info("Workbench API at %s/ (root %s)", base, state.root)
