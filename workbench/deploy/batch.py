"""`workbench score MODEL INPUT -o OUTPUT`: batch scoring of CSV and Parquet files with a packaged model.

Requests are not the only way a model is used: nightly jobs score a table. This module scores files
the way `workbench serve` scores requests, so that the two cannot disagree:

* the model is resolved as `serve` resolves it (`serving.models.resolve`: `NAME@ALIAS`, `NAME/3`,
  `NAME`, a package folder) and loaded as the MLflow pyfunc the package holds, whose `predict` applies
  the packaged feature function: the rows here go through the same code as a served request;
* the input is read in chunks (`chunk_rows` rows: pandas' chunked CSV reader, pyarrow's Parquet batch
  reader), scored and written before the next chunk is read, so memory stays bounded by a few chunks
  whatever the input size;
* with `executor="dask"` the chunks are scored on a Dask cluster (a LocalCluster, or the scheduler
  given): each chunk is a small description (a CSV byte range, Parquet row groups) that a worker reads
  itself, so the data never passes through this process twice; at most `2 x threads` chunks are in
  flight, and the client writes them back in input order (the output is the same as the local one);
* each chunk is logged as one line of the request log (`.workbench/serving/<name>/batch-<id>.jsonl`,
  the format of serving.request_log, role `batch`), so `workbench monitor` measures the drift of what
  batch jobs scored beside what was served. `log_sample` logs a fraction of the rows.

Output: the input columns plus the predictions (`prediction`, or `prediction_<column>` when the model
returns several), as one CSV or Parquet file (by OUTPUT's suffix) or, for any other OUTPUT, a folder of
`part-NNNNN.parquet` files, one per chunk. The file appears only when scoring succeeded (it is written
beside and renamed). Inputs: a file, or a folder whose `*.csv` / `*.parquet` / `*.pq` files (searched
recursively, in name order) all have the same columns.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["Chunk", "ScoreError", "ScoreResult", "find_inputs", "plan_chunks", "score", "score_chunk"]

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 50_000
CSV_BLOCK_BYTES = 16 * 1024**2     # a Dask chunk of a CSV file (about this many bytes, cut at a newline)


class ScoreError(WorkbenchError):
    """`workbench score` cannot do what was asked (no input files, mixed columns, a model that fails)."""


@dataclass
class ScoreResult:
    model: str                     # the model's label (churn/3, or its folder)
    output: Path
    rows: int = 0
    chunks: int = 0
    files: int = 0
    seconds: float = 0.0           # wall time of reading, scoring and writing
    predict_seconds: float = 0.0   # time inside the model's predict (summed over chunks)
    log: Path | None = None        # the request log written (None: not logged)
    logged_rows: int = 0
    executor: str = "local"

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        log = f"; {self.logged_rows} row(s) logged to {self.log}" if self.log else ""
        return (f"scored {self.rows} row(s) from {self.files} file(s) in {self.chunks} chunk(s) with {self.model} "
                f"in {self.seconds:.2f}s ({self.rows_per_s:,.0f} rows/s, {self.executor}) -> {self.output}{log}")


@dataclass(frozen=True)
class Chunk:
    """What one Dask task reads: rows of one file (CSV: a byte range cut at newlines; Parquet: row groups)."""

    index: int
    path: str
    kind: str                      # csv | parquet
    start: int = 0                 # csv: first byte of the block (after the header)
    end: int = 0                   # csv: one past its last byte
    row_groups: tuple[int, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------------
# inputs


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "csv" if suffix in CSV_SUFFIXES else "parquet" if suffix in PARQUET_SUFFIXES else None


def find_inputs(input_path: Path) -> list[Path]:
    """The files to score: `input_path` itself, or the CSV/Parquet files under a folder, in name order."""
    path = Path(input_path)
    if not path.exists():
        raise ScoreError(f"{input_path}: no such file or folder",
                         hint="give a .csv or .parquet file, or a folder of them")
    if path.is_file():
        if _kind(path) is None:
            raise ScoreError(f"{input_path}: not a CSV or Parquet file (by its suffix)",
                             hint="name the file .csv, .parquet or .pq")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p) and not p.name.startswith((".", "_")))
    if not files:
        raise ScoreError(f"{input_path}: the folder holds no .csv, .parquet or .pq file",
                         hint="put the files to score in it, or give one file")
    return files


def _read_local(path: Path, chunk_rows: int) -> Iterator:
    """DataFrames of at most `chunk_rows` rows from one file."""
    import pandas as pd

    if _kind(path) == "csv":
        with pd.read_csv(path, chunksize=chunk_rows) as reader:
            yield from reader
        return
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as handle:
        for batch in handle.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def _total_rows(files: list[Path]) -> int | None:
    """Rows in all inputs when it costs nothing (Parquet footers); None with any CSV."""
    if any(_kind(p) == "csv" for p in files):
        return None
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def plan_chunks(files: list[Path], chunk_rows: int, csv_block: int = CSV_BLOCK_BYTES) -> list[Chunk]:
    """Chunks a worker can read on its own: CSV blocks of about `csv_block` bytes cut after a newline
    (a quoted field spanning lines would be cut: give such data as Parquet), Parquet row groups
    gathered to about `chunk_rows` rows."""
    import pyarrow.parquet as pq

    chunks: list[Chunk] = []
    for path in files:
        if _kind(path) == "csv":
            size = path.stat().st_size
            with path.open("rb") as fh:
                fh.readline()
                start = fh.tell()
                while start < size:
                    fh.seek(min(size, start + csv_block))
                    fh.readline()
                    end = min(size, fh.tell())
                    chunks.append(Chunk(len(chunks), str(path.resolve()), "csv", start, end))
                    start = end
            continue
        meta = pq.ParquetFile(path).metadata
        group: list[int] = []
        rows = 0
        for i in range(meta.num_row_groups):
            group.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= chunk_rows:
                chunks.append(Chunk(len(chunks), str(path.resolve()), "parquet", row_groups=tuple(group)))
                group, rows = [], 0
        if group:
            chunks.append(Chunk(len(chunks), str(path.resolve()), "parquet", row_groups=tuple(group)))
    return chunks


def read_chunk(chunk: Chunk):
    """The rows of one planned chunk, as a DataFrame."""
    import io

    import pandas as pd

    if chunk.kind == "csv":
        with open(chunk.path, "rb") as fh:
            header = fh.readline()
            fh.seek(chunk.start)
            block = fh.read(chunk.end - chunk.start)
        return pd.read_csv(io.BytesIO(header + block))
    import pyarrow.parquet as pq

    with pq.ParquetFile(chunk.path) as handle:
        return handle.read_row_groups(list(chunk.row_groups)).to_pandas()


# --------------------------------------------------------------------------------------------------
# scoring one chunk (here or on a Dask worker)

_LOADED: dict[tuple[str, str], Any] = {}  # per process: a worker loads the model once


def _model(model_uri: str, tracking_uri: str):
    key = (model_uri, tracking_uri)
    if key not in _LOADED:
        from workbench.deploy.serving import models

        ref = models.ModelRef(spec=model_uri, uri=model_uri, name=model_uri)
        _LOADED[key] = models.load(ref, tracking_uri)
    return _LOADED[key]


def _prediction_columns(predictions: Any, rows: int):
    """The predictions as a DataFrame of `rows` rows (`prediction`, or `prediction_<name>`)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        out = predictions.reset_index(drop=True)
        return out.set_axis([f"prediction_{c}" for c in out.columns], axis=1)
    if isinstance(predictions, pd.Series):
        return pd.DataFrame({"prediction": predictions.reset_index(drop=True)})
    array = np.asarray(predictions)
    if array.ndim == 1 and len(array) == rows:
        return pd.DataFrame({"prediction": array})
    if array.ndim == 2 and len(array) == rows:
        return pd.DataFrame(array, columns=[f"prediction_{i}" for i in range(array.shape[1])])
    raise ScoreError(f"the model returned predictions of shape {array.shape} for {rows} row(s)",
                     hint="batch scoring needs one prediction (or one row of them) per input row")


def _log_line(frame, predictions, model_label: str, source: str, seconds: float, sample: float,
              seed: int) -> tuple[str, int] | None:
    """(the request-log line of one chunk, its logged rows), or None when nothing is logged.

    The line is assembled from pandas' own JSON (NaN as null, timestamps as ISO text) without
    parsing it back: a chunk of 50,000 rows would otherwise cost more to log than to score."""
    import numpy as np

    if sample <= 0 or not len(frame):
        return None
    if sample < 1.0:
        keep = np.random.default_rng(seed).random(len(frame)) < sample
        frame, predictions = frame[keep], predictions[keep]
        if not len(frame):
            return None
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    inputs = frame.to_json(orient="split", index=False, date_format="iso")
    values = predictions.iloc[:, 0] if predictions.shape[1] == 1 else predictions
    preds = values.to_json(orient="values", date_format="iso")
    head = json.dumps({"ts": time.time(), "id": uuid.uuid4().hex, "model": model_label, "role": "batch",
                       "status": 200, "latency_ms": round(seconds * 1000, 3), "input_format": "batch",
                       "source": source, "n_rows": len(frame)}, separators=(",", ":"))
    return f'{head[:-1]},"inputs":{inputs},"predictions":{preds}}}', len(frame)


def score_frame(frame, model, model_label: str, source: str, sample: float, seed: int):
    """(the input with its predictions, predict seconds, the log line or None) for one DataFrame."""
    import pandas as pd

    started = time.perf_counter()
    try:
        predictions = model.predict(frame)
    except Exception as exc:  # noqa: BLE001 - named with the file, as a user can act on it
        raise ScoreError(f"the model failed on rows of {source}: {type(exc).__name__}: {str(exc)[:500]}",
                         hint="check that the file has the columns the model was trained on "
                              "(its signature is in the package's MLmodel file)") from None
    seconds = time.perf_counter() - started
    columns = _prediction_columns(predictions, len(frame))
    frame = frame.reset_index(drop=True)
    clash = [c for c in columns.columns if c in frame.columns]
    if clash:
        frame = frame.drop(columns=clash)
    scored = pd.concat([frame, columns], axis=1)
    return scored, seconds, _log_line(frame, columns, model_label, source, seconds, sample, seed)


def score_chunk(chunk: Chunk, model_uri: str, tracking_uri: str, model_label: str, sample: float, seed: int):
    """What a Dask worker runs: read the chunk, score it with the (cached) model."""
    frame = read_chunk(chunk)
    return score_frame(frame, _model(model_uri, tracking_uri), model_label, chunk.path, sample, seed + chunk.index)


# --------------------------------------------------------------------------------------------------
# writing


class _Writer:
    """Writes scored chunks in order to a CSV file, a Parquet file or a folder of Parquet parts; the
    result appears at `output` only on `commit()` (written beside, then renamed)."""

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        suffix = self.output.suffix.lower()
        self.kind = "csv" if suffix in CSV_SUFFIXES else "parquet" if suffix in PARQUET_SUFFIXES else "folder"
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.output.with_name(f".{self.output.name}.partial-{os.getpid()}")
        if self.kind == "folder":
            if self.output.is_file():
                raise ScoreError(f"-o {output}: a file, and without a .csv or .parquet suffix",
                                 hint="name the output .csv or .parquet for one file, or a folder for parts")
            self.partial.mkdir()
        self._parquet = None
        self._schema = None
        self.parts = 0

    def write(self, frame) -> None:
        import pyarrow as pa

        if self.kind == "csv":
            frame.to_csv(self.partial, mode="a", header=self.parts == 0, index=False)
        elif self.kind == "folder":
            frame.to_parquet(self.partial / f"part-{self.parts:05d}.parquet", index=False)
        else:
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.partial, self._schema)
            elif table.schema != self._schema:
                try:
                    table = table.cast(self._schema)
                except (pa.ArrowInvalid, ValueError) as exc:
                    raise ScoreError(f"a later chunk's columns differ from the first's: {exc}",
                                     hint="give input files with the same columns and types, or write "
                                          "CSV (-o OUT.csv) or a folder of parts") from None
            self._parquet.write_table(table)
        self.parts += 1

    def commit(self) -> None:
        import shutil

        if self._parquet is not None:
            self._parquet.close()
        if self.parts == 0 and self.kind == "csv":
            self.partial.write_text("")
        elif self.parts == 0 and self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.partial)
        if self.output.is_dir():
            shutil.rmtree(self.output)
        os.replace(self.partial, self.output)

    def abort(self) -> None:
        import shutil

        if self._parquet is not None:
            try:
                self._parquet.close()
            except Exception:  # noqa: BLE001 - the partial file goes anyway
                pass
        if self.partial.is_dir():
            shutil.rmtree(self.partial, ignore_errors=True)
        else:
            self.partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# the command


def score(model: str, input_path: str | Path, output: str | Path, *, root: Path, executor: str = "local",
          scheduler: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS, log: bool = True,
          log_sample: float = 1.0, name: str | None = None, seed: int = 0,
          on_event: Callable[[Any], None] | None = None, workers: int = 2,
          csv_block: int = CSV_BLOCK_BYTES) -> ScoreResult:
    """Score every row of `input_path` with `model` into `output` (see the module docstring).

    `executor`: local (this process) or dask (the cluster at `scheduler`, else a LocalCluster of
    `workers` processes). `on_event` receives ScoreProgress after each chunk and ScoreFinished."""
    from workbench.core.events import Message, ScoreFinished, ScoreProgress
    from workbench.deploy.serving import models
    from workbench.deploy.serving.server import SERVING_DIR, model_slug
    from workbench.provenance.tracking import default_tracking_uri

    emit = on_event or (lambda event: None)
    if executor not in ("local", "dask"):
        raise ScoreError(f"--executor {executor}: unknown", hint="use local (default) or dask")
    if chunk_rows < 1:
        raise ScoreError(f"--chunk-rows {chunk_rows}: must be at least 1", hint="e.g. --chunk-rows 50000")
    if not 0 <= log_sample <= 1:
        raise ScoreError(f"--log-sample {log_sample}: not a fraction", hint="give a number from 0 to 1")
    root = Path(root)
    files = find_inputs(Path(input_path))
    if not log:
        log_sample = 0.0  # no line is even built
    uri = default_tracking_uri(root)
    ref = models.resolve(model, root, uri)
    output = Path(output)
    if any(output.resolve() == f.resolve() for f in files):
        raise ScoreError(f"-o {output} is one of the inputs", hint="write the scores to another file")
    result = ScoreResult(ref.label, output, files=len(files), executor=executor)
    total = _total_rows(files)
    log_path = None
    if log and log_sample > 0:
        session = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        log_path = root / SERVING_DIR / model_slug(name or ref.name) / f"batch-{session}.jsonl"
        log_path.parent.mkdir(parents=True, exist_ok=True)
    emit(Message(f"scoring {len(files)} file(s) with {ref.describe()} ({executor})"))
    started = time.perf_counter()
    writer = _Writer(output)
    log_file = log_path.open("a", encoding="utf-8") if log_path else None

    def take(scored, seconds: float, line: dict | None) -> None:
        writer.write(scored)
        result.rows += len(scored)
        result.chunks += 1
        result.predict_seconds += seconds
        if line is not None and log_file is not None:
            log_file.write(line[0] + "\n")
            result.logged_rows += line[1]
        emit(ScoreProgress(rows=result.rows, chunks=result.chunks, seconds=round(time.perf_counter() - started, 3),
                           total_rows=total))

    try:
        if executor == "local":
            loaded = models.load(ref, uri)
            for path in files:
                for frame in _read_local(path, chunk_rows):
                    take(*score_frame(frame, loaded, ref.label, str(path), log_sample, seed + result.chunks))
        else:
            _score_on_dask(ref, uri, plan_chunks(files, chunk_rows, csv_block), scheduler, workers, log_sample,
                           seed, take, emit)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if log_file is not None:
            log_file.close()
            if result.logged_rows == 0:
                log_path.unlink(missing_ok=True)
    result.seconds = time.perf_counter() - started
    result.log = log_path if result.logged_rows else None
    emit(ScoreFinished(model=ref.label, output=str(output), rows=result.rows, chunks=result.chunks,
                       seconds=round(result.seconds, 3), rows_per_s=round(result.rows_per_s, 1),
                       log=str(result.log) if result.log else None))
    return result


def _score_on_dask(ref, uri: str, chunks: list[Chunk], scheduler: str | None, workers: int, sample: float,
                   seed: int, take, emit) -> None:
    """Chunks scored on Dask workers, at most 2 x threads in flight, taken back in input order."""
    import logging

    from distributed import Client, LocalCluster

    from workbench.core.events import Message
    from workbench.execute.dask_runner import DaskError

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=15)
        except (OSError, TimeoutError) as exc:
            raise DaskError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                            hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                                 "leave out --scheduler to use a local cluster") from None
    else:
        emit(Message(f"starting a local Dask cluster ({workers} worker(s))"))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
        client = Client(cluster)
    try:
        info = client.scheduler_info()["workers"]
        if not info:
            raise DaskError("the Dask cluster has no workers", hint="start workers with `dask worker ADDRESS`")
        window = max(2, 2 * sum(w.get("nthreads", 1) for w in info.values()))
        pending: deque = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append(client.submit(score_chunk, chunk, ref.uri, uri, ref.label, sample, seed, pure=False,
                                         key=f"workbench-score-{chunk.index}-{uuid.uuid4().hex[:8]}"))
            if len(pending) >= window:
                take(*pending.popleft().result())
        while pending:
            take(*pending.popleft().result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
