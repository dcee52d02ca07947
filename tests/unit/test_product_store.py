"""product_store.py without Dask: what a task needs and makes, and transfers through a file:// store."""

from __future__ import annotations

import json

import pytest
from helpers import write_notebook

from workbench.execute.product_store import (
    ProductStore,
    StoreError,
    download,
    download_once,
    open_store,
    run_task_from_store,
    scratch_folder,
    upload,
)
from workbench.refactor.export import export
from workbench.refactor.notebook import read_notebook
from workbench.refactor.planner import build_plan


@pytest.fixture
def pipeline(tmp_path):
    nb = write_notebook(tmp_path / "notebooks" / "files.ipynb", [
        ("n = 3", "parameters"),
        ("import helper\nrows = [helper.double(i) for i in range(n)]", "task:make"),
        ("open('out/rows.txt', 'w').write(','.join(map(str, rows)))", "task:write"),
        ("text = open('out/rows.txt').read()\nraw = open('data.csv').read()\ntotal = sum(map(int, text.split(',')))",
         "task:read"),
    ])
    (tmp_path / "notebooks" / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "notebooks" / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "notebooks" / "out").mkdir()
    folder = tmp_path / "pipelines" / "files"
    plan = build_plan(read_notebook(nb))
    export(plan, folder, nb)
    return folder, plan


def test_needs_outputs_and_sources_are_project_paths(pipeline, tmp_path):
    folder, plan = pipeline
    store = ProductStore(f"file://{tmp_path / 'store'}", folder, plan, {"n": 3}, "r1")
    assert store.pipeline_rel == "pipelines/files" and store.notebook_rel == "notebooks"
    assert store.needs("read") == ["pipelines/files/products/write", "notebooks/out/rows.txt", "notebooks/data.csv"]
    assert "notebooks/out/rows.txt" in store.outputs("write")
    assert {"pipelines/files/pipeline.yaml", "pipelines/files/env.yaml", "pipelines/files/tasks/make.py",
            "notebooks/helper.py"} <= set(store.sources)  # the local module the task imports travels along
    assert store.scope.endswith("/files-r1")


def test_publish_uploads_only_what_exists_once(pipeline, tmp_path):
    folder, plan = pipeline
    store = ProductStore(str(tmp_path / "store"), folder, plan, {"n": 3}, "r1")
    # nothing ran yet: only the raw input exists here
    assert store.publish("read") == ["notebooks/data.csv"]
    assert (tmp_path / "store" / "files-r1" / "files" / "notebooks" / "data.csv").read_text() == "a,b\n1,2\n"
    (tmp_path / "notebooks" / "data.csv").write_text("changed")
    store.publish("read")  # already in the store for this run: not uploaded again
    assert (tmp_path / "store" / "files-r1" / "files" / "notebooks" / "data.csv").read_text() == "a,b\n1,2\n"
    store.discard()
    assert not (tmp_path / "store" / "files-r1").exists()


def test_transfers_keep_hidden_files_and_replace_folders_whole(tmp_path):
    import fsspec

    fs = fsspec.filesystem("file")
    src = tmp_path / "src" / "raw"
    (src / "part").mkdir(parents=True)
    (src / "raw.parquet").write_bytes(b"x" * 10)
    (src / ".raw.metadata").write_text("{}")
    (src / "part" / "a.npy").write_bytes(b"a")
    upload(fs, src, str(tmp_path / "store" / "raw"))
    target = tmp_path / "dst" / "raw"
    target.mkdir(parents=True)
    (target / "stale.bin").write_bytes(b"old")  # a file the new product no longer has
    download(fs, str(tmp_path / "store" / "raw"), target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        ".raw.metadata", "part/a.npy", "raw.parquet"]
    assert [p.name for p in target.parent.iterdir()] == ["raw"]  # no partial or old folder left
    with pytest.raises(StoreError, match="not in the product store"):
        download(fs, str(tmp_path / "store" / "missing"), tmp_path / "dst" / "missing")
    assert not (tmp_path / "dst" / "missing").exists()


def test_fetch_brings_products_home_and_drops_what_the_task_no_longer_makes(pipeline, tmp_path):
    folder, plan = pipeline
    store = ProductStore(str(tmp_path / "store"), folder, plan, {"n": 3}, "r1")
    stale = folder / "products" / "write.ipynb"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("old executed notebook")
    made = tmp_path / "notebooks" / "out" / "rows.txt"
    made.write_text("0,2,4")
    upload(store.fs, made, store.remote("notebooks/out/rows.txt"))
    made.unlink()
    store.fetch("write", ["notebooks/out/rows.txt"])
    assert made.read_text() == "0,2,4"
    assert not stale.exists(), "an executed notebook the worker did not send back stayed"
    assert not (folder / ".workbench" / "incoming").exists()


def test_a_failed_download_leaves_the_old_products_untouched(pipeline, tmp_path):
    folder, plan = pipeline
    store = ProductStore(str(tmp_path / "store"), folder, plan, {"n": 3}, "r1")
    old = folder / "products" / "make" / "rows"
    old.mkdir(parents=True)
    (old / "rows.pkl").write_bytes(b"previous run")
    with pytest.raises(StoreError):
        store.fetch("make", ["pipelines/files/products/make"])  # the worker's upload is not there
    assert (old / "rows.pkl").read_bytes() == b"previous run"


def test_a_worker_runs_a_task_in_scratch_and_uploads_its_products(pipeline, tmp_path, monkeypatch):
    """run_task_from_store outside Dask (get_worker patched): the task runs in the scratch copy,
    not in the pipeline folder, and its products arrive in the store."""
    import distributed

    folder, plan = pipeline
    monkeypatch.setattr(distributed, "get_worker", lambda: type("W", (), {"address": "tcp://test:1"})())
    monkeypatch.setenv("TMPDIR", str(tmp_path / "worker-tmp"))
    (tmp_path / "worker-tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    store = ProductStore(str(tmp_path / "store"), folder, plan, {"n": 3}, "r1")
    needs = store.publish("make")
    seconds, _, info = run_task_from_store(store.url, store.scope, store.sources,
                                           (store.pipeline_rel, store.notebook_rel), "make", {"n": 3}, {},
                                           needs, store.outputs("make"))
    assert "pipelines/files/products/make" in info["stored"] and info["worker"] == "tcp://test:1"
    scratch = scratch_folder(store.scope)
    assert scratch.is_relative_to(tmp_path / "worker-tmp") and (scratch / "pipelines/files/products/make.ipynb").is_file()
    assert not (folder / "products").exists(), "the worker wrote into the client's pipeline folder"
    store.fetch("make", info["stored"])
    from workbench.runtime import load

    assert load(folder / "products" / "make" / "rows") == [0, 2, 4]
    assert json.loads((folder / "products" / "make.ipynb").read_text())["cells"]


def test_files_beside_the_notebook_folder_keep_their_place_in_the_layout(tmp_path):
    """`../data/raw.csv` from the notebook's folder: the layout rebuilt on a worker must hold it
    inside the scratch copy, at the same place relative to the tasks' working directory."""
    nb = write_notebook(tmp_path / "proj" / "notebooks" / "up.ipynb", [
        ("text = open('../data/raw.csv').read()", "task:read"), ("n = len(text)", "task:count")])
    (tmp_path / "proj" / "data").mkdir()
    (tmp_path / "proj" / "data" / "raw.csv").write_text("a\n1\n")
    folder = tmp_path / "proj" / "pipelines" / "up"
    plan = build_plan(read_notebook(nb))
    export(plan, folder, nb)
    store = ProductStore(str(tmp_path / "store"), folder, plan, {}, "r1")
    assert store.base == (tmp_path / "proj").resolve()
    assert store.needs("read") == ["data/raw.csv"] and store.publish("read") == ["data/raw.csv"]
    with pytest.raises(StoreError, match="outside the project's scratch copy"):
        run_task_from_store(store.url, store.scope, {}, ("pipelines/up", "notebooks"), "read", {}, {},
                            ["../../etc/passwd"], [])


def test_a_store_without_its_backend_or_without_dask_is_a_clear_error(pipeline, tmp_path):
    import importlib.util

    from harness import workbench

    if importlib.util.find_spec("s3fs") is None:
        with pytest.raises(StoreError, match="cannot open the product store s3://") as err:
            open_store("s3://bucket/prefix")
        assert "pip install s3fs" in err.value.hint
    folder, _ = pipeline
    proc = workbench("run", folder, "--products", str(tmp_path / "store"), "--no-version", "--no-track")
    assert proc.returncode == 2 and "--products needs --executor dask" in proc.stderr


def test_tasks_beside_each_other_on_a_worker_download_an_input_once(tmp_path):
    """Two tasks of one worker reading the same upstream product: the second waits for the first's
    download and uses it, instead of replacing the folder while the first is reading it (the folder
    was missing for an instant, and a task failed with "has not been produced")."""
    import threading
    import time

    import fsspec

    real = fsspec.filesystem("file")

    class SlowCountingFS:
        def __init__(self):
            self.downloads = 0

        def __getattr__(self, name):
            return getattr(real, name)

        def find(self, path):
            self.downloads += 1
            time.sleep(0.2)  # a slow store: both tasks are inside download at once without the lock
            return real.find(path)

    src = tmp_path / "src" / "mutate"
    src.mkdir(parents=True)
    (src / "counter.pkl").write_bytes(b"1")
    upload(real, src, str(tmp_path / "store" / "mutate"))
    fs, scratch = SlowCountingFS(), tmp_path / "scratch"
    local = scratch / "pipelines" / "p" / "products" / "mutate"
    seen = []

    def task():
        download_once(fs, str(tmp_path / "store" / "mutate"), local, scratch)
        seen.append((local / "counter.pkl").read_bytes())

    threads = [threading.Thread(target=task) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [b"1"] * 3
    assert fs.downloads == 1
