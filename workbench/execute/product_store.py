"""Products on an fsspec URL, for Dask workers that share no filesystem with the client.

`workbench run --executor dask --products URL` (s3://bucket/prefix, gcs://..., file:///mnt/x or a
plain path): the workers never open the pipeline folder. Each task is sent with the pipeline's
sources (pipeline.yaml, env.yaml, tasks/*.py and the local modules they import) and the store paths
of what it reads; the worker rebuilds the project's layout in a scratch folder, downloads its
upstream products and input files from the store, runs the task there and uploads what the task
made. The client uploads what only it has (input files, products of tasks that did not need to run)
before a task that reads them is submitted, and downloads each finished task's products into the
pipeline folder, so the state file, DVC versioning and MLflow tracking see exactly what a local run
leaves.

Everything of one run lives under `URL/<pipeline>-<run>/files/<path in the project>` and is deleted
when the run ends: the pipeline folder (and DVC) keeps the products, the store is only the exchange.
A download lands in a staging folder and replaces the old product in one rename, so an interrupted
run never leaves a half-copied product that the next run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.plan import Plan


class StoreError(WorkbenchError):
    """The product store cannot be used (no fsspec backend, not writable, unreachable from a worker)."""


def open_store(url: str):
    """(fsspec filesystem, path inside it) for a URL or a plain path."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        protocol = url.split("://")[0] if "://" in url else "file"
        raise StoreError(f"cannot open the product store {url}: {exc}",
                         hint=f"install the fsspec backend for {protocol}:// (e.g. `pip install s3fs` for s3://, "
                         "`gcsfs` for gcs://) here and on every worker, or pass a path every worker mounts") from None


class ProductStore:
    """The client's side: what each task needs in the store, and bringing its products home."""

    def __init__(self, url: str, pipeline: Path, plan: Plan, params: dict, run_id: str | None = None) -> None:
        from workbench.execute.build import notebook_dir_of
        from workbench.execute.fingerprint import local_module_files

        self.url, self.plan, self.params = url, plan, params
        self.fs, root = open_store(url)
        self.pipeline = pipeline.resolve()
        self.notebook_dir = notebook_dir = notebook_dir_of(pipeline)
        # the project's layout is rebuilt on the workers below one folder holding the pipeline, the
        # notebook's folder and every file the tasks name by a relative path (`../data/x.csv` too)
        named = [p for t in plan.tasks for k in t.file_reads + t.file_writes if (p := self._absolute(k))]
        self.base = Path(os.path.commonpath([self.pipeline, notebook_dir, *named]))
        self.pipeline_rel = _rel(self.pipeline, self.base)
        self.notebook_rel = _rel(notebook_dir, self.base)
        self.scope = f"{root.rstrip('/')}/{pipeline.name}-{run_id or uuid.uuid4().hex[:12]}"
        self.present: set[str] = set()  # project paths already in the store for this run
        files = [self.pipeline / "pipeline.yaml", self.pipeline / "env.yaml",
                 *sorted((self.pipeline / "tasks").glob("*.py"))]
        for task_file in list(files[2:]):
            files += local_module_files(task_file.read_text(encoding="utf-8"), [notebook_dir, self.pipeline])
        self.sources = {_rel(f, self.base): f.read_bytes() for f in files if f.is_file()}

    # --- what crosses the store ---

    def _absolute(self, key: str) -> str | None:
        """A file the tasks read or write (relative to their working directory), made absolute
        without following links; None for an absolute path (the worker must see it itself) or a
        template the parameters do not fill."""
        from workbench.execute.build import fill_template

        if "{" in key:
            key = fill_template(key, {p: self.params.get(p) for p in self.plan.parameters})
        if not key or os.path.isabs(key):
            return None
        return os.path.normpath(os.path.join(self.notebook_dir, key))

    def _notebook_path(self, key: str) -> str | None:
        """The same file as a project path (relative to `base`)."""
        path = self._absolute(key)
        return None if path is None else Path(os.path.relpath(path, self.base)).as_posix()

    def needs(self, name: str) -> list[str]:
        task = self.plan.task(name)
        paths = [f"{self.pipeline_rel}/products/{up}" for up in sorted(task.upstream)]
        writes = {self._notebook_path(k) for k in task.file_writes}
        for key in task.file_reads:
            path = self._notebook_path(key)
            if path is not None and path not in writes:
                paths.append(path)
        return paths

    def outputs(self, name: str) -> list[str]:
        task = self.plan.task(name)
        products = f"{self.pipeline_rel}/products"
        paths = [f"{products}/{name}.ipynb", f"{products}/.{name}.ipynb.metadata", f"{products}/{name}",
                 f"{self.pipeline_rel}/.workbench/metrics/{name}.jsonl"]
        return paths + [p for p in map(self._notebook_path, task.file_writes) if p is not None]

    def publish(self, name: str) -> list[str]:
        """Upload what the task reads and only this machine has; the store paths it can download."""
        ready = []
        for rel in self.needs(name):
            if rel not in self.present:
                local = self.base / rel
                if not local.exists():
                    continue  # the task fails on the worker as it would here, naming the file
                upload(self.fs, local, self.remote(rel))
                self.present.add(rel)
            ready.append(rel)
        return ready

    def remote(self, rel: str) -> str:
        return f"{self.scope}/files/{rel}"

    def fetch(self, name: str, stored: list[str]) -> None:
        """Bring a finished task's products into the pipeline folder: staged, then one rename each."""
        staging = self.pipeline / ".workbench" / "incoming" / name
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for rel in stored:
                download(self.fs, self.remote(rel), staging / rel)
            for rel in self.outputs(name):
                target, new = self.base / rel, staging / rel
                if new.exists():
                    _replace(new, target)
                else:
                    _remove(target)  # the task no longer makes it: a stale copy must not stay
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                staging.parent.rmdir()  # .workbench/incoming, when no other download is under way
        self.present.update(stored)

    def fetch_failure(self, name: str) -> None:
        """The failed task's executed notebook, for the error's cell and traceback (best effort)."""
        rel = f"{self.pipeline_rel}/products/{name}.ipynb"
        try:
            if self.fs.exists(self.remote(rel)):
                download(self.fs, self.remote(rel), self.base / rel)
        except OSError:
            pass

    def probe(self) -> tuple[str, str]:
        """Write a token the workers must read back: (its store path, the token)."""
        token = uuid.uuid4().hex
        path = f"{self.scope}/probe"
        try:
            self.fs.makedirs(self.scope, exist_ok=True)
            with self.fs.open(path, "w") as f:
                f.write(token)
        except OSError as exc:
            raise StoreError(f"cannot write to the product store {self.url}: {exc}",
                             hint="check the URL and the credentials (the backend's usual environment "
                             "variables or config files), or pass a writable path") from None
        return path, token

    def discard(self) -> None:
        try:
            if self.fs.exists(self.scope):
                self.fs.rm(self.scope, recursive=True)
        except OSError:
            pass


# --- on a worker ---

def worker_reads(url: str, path: str, token: str):
    """True when this worker can import Workbench and read the client's token from the store."""
    try:
        import workbench.execute.build  # noqa: F401
    except ImportError as exc:
        return f"cannot import workbench ({exc})"
    try:
        fs, _ = open_store(url)
        with fs.open(path, "r") as f:
            found = f.read()
    except (OSError, StoreError) as exc:
        return f"cannot read the store: {exc}"
    return True if found == token else "reads another store at that URL"


def scratch_folder(scope: str) -> Path:
    return Path(tempfile.gettempdir()) / "workbench-dask" / hashlib.sha256(scope.encode()).hexdigest()[:16]


def run_task_from_store(url: str, scope: str, sources: dict[str, bytes], layout: tuple[str, str], name: str,
                        params: dict, env: dict, needs: list[str], outputs: list[str]):
    """On a worker: run one task in a scratch copy of the project, its inputs and products going
    through the store; returns run_task's result with `stored` (the project paths uploaded)."""
    from workbench.execute.worker import run_task

    fs, _ = open_store(url)
    scratch = scratch_folder(scope)
    pipeline_rel, notebook_rel = layout
    for rel in [*sources, *outputs, *needs]:
        if not (scratch / rel).resolve().is_relative_to(scratch.resolve()):
            raise StoreError(f"{rel} is outside the project's scratch copy")  # never from Workbench's client
    (scratch / notebook_rel).mkdir(parents=True, exist_ok=True)  # the tasks' working directory
    for rel, data in sources.items():
        path = scratch / rel
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for rel in outputs:  # left by an earlier attempt on this worker
        _remove(scratch / rel)
    for rel in needs:
        download_once(fs, f"{scope}/files/{rel}", scratch / rel, scratch)
    try:
        seconds, peak, info = run_task(str(scratch / pipeline_rel), name, params, env)
    except BaseException:
        notebook = f"{pipeline_rel}/products/{name}.ipynb"
        if (scratch / notebook).is_file():
            upload(fs, scratch / notebook, f"{scope}/files/{notebook}")
        for rel in outputs:  # half-made products a task of this worker would take for the rerun's
            _remove(scratch / rel)
        raise
    stored = []
    for rel in outputs:
        if (scratch / rel).exists():
            upload(fs, scratch / rel, f"{scope}/files/{rel}")
            stored.append(rel)
    return seconds, peak, {**info, "stored": stored}


def forget_scratch(scope: str) -> None:
    shutil.rmtree(scratch_folder(scope), ignore_errors=True)


# --- transfers ---

def upload(fs, local: Path, remote: str) -> None:
    """A file, or a folder's files (hidden ones too: Ploomber's metadata), to `remote`."""
    if fs.exists(remote):
        fs.rm(remote, recursive=True)
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    for path in files:
        target = remote if path == local else f"{remote}/{path.relative_to(local).as_posix()}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), target)


def download(fs, remote: str, local: Path) -> None:
    """A file or a folder from the store to `local`, which is replaced only once all of it arrived."""
    if not fs.exists(remote):
        raise StoreError(f"{remote} is not in the product store",
                         hint="another process may have removed this run's folder from the store; run again")
    partial = local.with_name(f".{local.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        if fs.isdir(remote):
            prefix = remote.rstrip("/")
            for path in fs.find(prefix):
                target = partial / _strip(path, fs._strip_protocol(prefix))
                target.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(path, str(target))
            partial.mkdir(parents=True, exist_ok=True)
        else:
            partial.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(partial))
        _replace(partial, local)
    finally:
        _remove(partial)


def download_once(fs, remote: str, local: Path, scratch: Path) -> None:
    """What a task reads, brought into the run's scratch copy once for all the tasks of the worker.

    An upstream product or an input file does not change during a run (the scratch copy is the
    run's), so a second download would only replace a folder that a task running beside it may be
    reading at that moment: between the two renames of `_replace` the folder is not there, and that
    task fails with "has not been produced". A lock per path (flock: threads and processes alike)
    makes the first task download and the others wait for it, then use what it brought."""
    import fcntl

    locks = scratch / ".workbench" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = locks / (hashlib.sha256(str(local).encode()).hexdigest()[:16] + ".lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not local.exists():
            download(fs, remote, local)


def _strip(path: str, prefix: str) -> str:
    path = path.rstrip("/")
    prefix = prefix.rstrip("/")
    if not path.startswith(prefix + "/"):
        raise StoreError(f"unexpected store path {path} under {prefix}")
    return path[len(prefix) + 1:]


def _replace(new: Path, target: Path) -> None:
    """`target` becomes `new` in one rename; an old folder is moved aside first, then removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if new.is_dir() and (target.is_file() or target.is_symlink()):
        target.unlink()
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _rel(path: Path, base: Path) -> str:
    return path.resolve().relative_to(base).as_posix()
