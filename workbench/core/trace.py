"""A trace: what one real run of a notebook changed at each task boundary, as fingerprints.

`workbench trace` (workbench.execute.trace) runs the notebook once in a kernel and, after the last
cell of each task, fingerprints every user global and the process and library state. This module
holds the data model (plain dataclasses, JSON) and the fingerprints themselves; the planner
(workbench.refactor.traced.apply_trace) turns the changes the static plan did not predict into
edges with their evidence.

Fingerprints are cheap and bounded (see `fingerprint`): exact for small values, by fixed blocks and
a strided sample for large NumPy arrays and pandas objects, and "unfingerprintable" (never an
error) for what cannot be hashed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA = "workbench.trace/1"

EXACT_BYTES = 1 << 20  # values up to 1 MiB are hashed whole
BLOCKS = 64  # large arrays: this many evenly spaced blocks ...
BLOCK_BYTES = 4096  # ... of this many bytes each (the first and the last block included) ...
SAMPLES = 65536  # ... plus this many evenly strided elements
PICKLE_LIMIT = 16 << 20  # an object whose pickle is larger is fingerprinted by its size and a sample
CONTAINER_ITEMS = 10_000  # a list/dict/tuple/set: its first items this many, and its length


@dataclass
class Change:
    """A name or a piece of state whose fingerprint a task changed."""

    name: str  # a global, or state such as `os.environ[KEY]`, `os.getcwd()`, `numpy.random`
    kind: str  # "value" or "state"
    before: str | None  # fingerprints (None: not there)
    after: str | None


@dataclass
class Boundary:
    """The fingerprints after the last cell of a task."""

    task: str
    cell: int  # the task's last code cell (a notebook cell index)
    values: dict[str, str] = field(default_factory=dict)  # global -> fingerprint
    state: dict[str, str] = field(default_factory=dict)  # state key -> fingerprint
    unfingerprintable: dict[str, str] = field(default_factory=dict)  # global -> why
    seconds: float = 0.0  # what fingerprinting cost here


@dataclass
class Trace:
    schema: str
    notebook: str
    notebook_sha256: str
    parameters: dict[str, object]
    boundaries: list[Boundary]  # in notebook order
    start: dict[str, str] = field(default_factory=dict)  # state before the first task (after imports)
    start_values: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def changes(self, task: str) -> list[Change]:
        """What `task` changed: its boundary against the one before (the start for the first task)."""
        before_values, before_state = self.start_values, self.start
        for b in self.boundaries:
            if b.task == task:
                return diff(before_values, b.values, "value") + diff(before_state, b.state, "state")
            before_values, before_state = b.values, b.state
        raise KeyError(task)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Trace:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} trace")
        return cls(schema=data["schema"], notebook=data["notebook"], notebook_sha256=data["notebook_sha256"],
                   parameters=dict(data.get("parameters") or {}),
                   boundaries=[Boundary(**b) for b in data["boundaries"]],
                   start=dict(data.get("start") or {}), start_values=dict(data.get("start_values") or {}),
                   seconds=float(data.get("seconds") or 0.0))


def diff(before: dict[str, str], after: dict[str, str], kind: str) -> list[Change]:
    """The keys whose fingerprint differs, appeared or disappeared, in `after`'s order."""
    changes = [Change(k, kind, before.get(k), v) for k, v in after.items() if before.get(k) != v]
    changes += [Change(k, kind, v, None) for k, v in before.items() if k not in after]
    return changes


UNFINGERPRINTABLE = "unfingerprintable"


def fingerprint(value: object) -> str:
    """A short string that changes when `value` changes, bounded in cost.

    Guarantees (a "sampled" fingerprint says so in its prefix):

    - bytes, str, numbers, None, small NumPy arrays and pandas objects (up to EXACT_BYTES), and any
      other object whose pickle is at most PICKLE_LIMIT bytes: exact; any change to the value (as
      its bytes or its pickle show it) changes the fingerprint, up to SHA-256 collisions.
    - a NumPy array larger than EXACT_BYTES: its shape, dtype and, over its bytes in C order,
      BLOCKS evenly spaced blocks of BLOCK_BYTES bytes (the first and last included) and SAMPLES
      elements at an even stride. A change of shape or dtype, or of any byte inside a sampled block
      or of a sampled element, is always detected; a change elsewhere is detected only when it
      falls on those positions (a change to a fraction f of the elements spread at random is
      missed with probability about (1 - f) ** SAMPLES). Cost: O(BLOCKS * BLOCK_BYTES + SAMPLES)
      reads, whatever the array's size (a non-contiguous array costs a gather of the samples).
    - a large pandas DataFrame or Series: its shape, columns, dtypes and index fingerprint, and the
      pandas row hashes of the same kind of sample of rows (BLOCKS evenly spaced runs of rows and
      an even stride), with the same guarantee per row.
    - lists, tuples, dicts and sets of those: their length and their first CONTAINER_ITEMS items
      (items beyond are not looked at).
    - anything that cannot be pickled (a generator, a lock, an open file): "unfingerprintable:
      TYPE"; two such fingerprints compare equal, so such a value never shows as changed.
    """
    try:
        return _fingerprint(value, 0)
    except Exception as exc:  # noqa: BLE001 - a fingerprint never fails the trace
        return f"{UNFINGERPRINTABLE}: {type(value).__qualname__} ({type(exc).__name__})"


def _digest(*parts: bytes) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:32]


def _fingerprint(value: object, depth: int) -> str:
    import sys

    if value is None or isinstance(value, (bool, int, float, complex)):
        return "exact:" + _digest(type(value).__name__.encode(), repr(value).encode())
    if isinstance(value, str):
        return "exact:" + _digest(b"str", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "exact:" + _digest(type(value).__name__.encode(), bytes(value))
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return _array(np, value)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        return _pandas(np, pd, value)
    if depth < 3 and type(value) in (list, tuple, dict, set, frozenset):
        return _container(value, depth)
    return _pickled(value)


def _container(value, depth: int) -> str:
    if isinstance(value, dict):
        items = list(value.items())[:CONTAINER_ITEMS]
        parts = [_fingerprint(k, depth + 1).encode() + b"=" + _fingerprint(v, depth + 1).encode() for k, v in items]
    elif isinstance(value, (set, frozenset)):
        parts = sorted(_fingerprint(v, depth + 1).encode() for v in list(value)[:CONTAINER_ITEMS])
    else:
        parts = [_fingerprint(v, depth + 1).encode() for v in value[:CONTAINER_ITEMS]]
    sampled = len(value) > CONTAINER_ITEMS or any(p.startswith(b"sampled:") for p in parts)
    return ("sampled:" if sampled else "exact:") + _digest(type(value).__name__.encode(),
                                                           str(len(value)).encode(), *parts)


def _pickled(value) -> str:
    import pickle
    import types

    if isinstance(value, types.FunctionType):
        code = value.__code__
        return "exact:" + _digest(b"function", value.__qualname__.encode(), code.co_code, repr(code.co_consts).encode(),
                                  repr(value.__defaults__).encode())
    if isinstance(value, type):
        return "exact:" + _digest(b"class", value.__module__.encode(), value.__qualname__.encode())
    data = pickle.dumps(value, protocol=5)
    if len(data) <= PICKLE_LIMIT:
        return "exact:" + _digest(b"pickle", data)
    step = len(data) // SAMPLES
    return "sampled:" + _digest(b"pickle", str(len(data)).encode(), data[:BLOCK_BYTES], data[-BLOCK_BYTES:],
                                data[::step])


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    """BLOCKS evenly spaced (start, stop) runs of `size` within range(n), the first and last included."""
    if n <= BLOCKS * size:
        return [(0, n)]
    last = n - size
    return [(last * i // (BLOCKS - 1), last * i // (BLOCKS - 1) + size) for i in range(BLOCKS)]


def _array(np, a) -> str:
    head = f"{a.shape}|{a.dtype.str}".encode()
    if a.dtype.hasobject:
        return _pickled(a)
    if a.nbytes <= EXACT_BYTES:
        return "exact:" + _digest(b"ndarray", head, np.ascontiguousarray(a).tobytes())
    flat = a.reshape(-1) if a.flags.c_contiguous else None
    n = a.size
    stride = max(1, n // SAMPLES)
    if flat is None:  # a view: gather the samples through the index, never copy the whole array
        index = np.arange(0, n, stride)[:SAMPLES]
        sample = np.ascontiguousarray(a.reshape(-1)[index]) if a.size < 2 else \
            np.ascontiguousarray(a[np.unravel_index(index, a.shape)])
        per = max(1, BLOCK_BYTES // a.itemsize)
        blocks = [np.ascontiguousarray(a[np.unravel_index(np.arange(s, e), a.shape)]).tobytes()
                  for s, e in _blocks(n, per)]
    else:
        sample = flat[::stride][:SAMPLES]
        raw = flat.view(np.uint8) if flat.dtype.itemsize else flat
        blocks = [raw[s:e].tobytes() for s, e in _blocks(raw.size, BLOCK_BYTES)]
    return "sampled:" + _digest(b"ndarray", head, np.ascontiguousarray(sample).tobytes(), *blocks)


def _pandas(np, pd, obj) -> str:
    if isinstance(obj, pd.Index):
        head = f"index|{len(obj)}|{obj.dtype}".encode()
        hashed = pd.util.hash_pandas_object(obj, index=False).to_numpy() if len(obj) else np.zeros(0, "u8")
        kind, digest = ("exact:", hashed.tobytes()) if hashed.nbytes <= EXACT_BYTES else \
            ("sampled:", _sample_rows(np, hashed))
        return kind + _digest(head, digest)
    frame = isinstance(obj, pd.DataFrame)
    head = repr((type(obj).__name__, obj.shape, list(map(str, obj.columns)) if frame else str(obj.name),
                 [str(t) for t in obj.dtypes] if frame else str(obj.dtype))).encode()
    index = _pandas(np, pd, obj.index).encode()
    rows = len(obj)
    width = max(1, obj.shape[1] if frame else 1)
    if rows * width * 8 <= EXACT_BYTES:
        hashed = pd.util.hash_pandas_object(obj, index=False).to_numpy() if rows else np.zeros(0, "u8")
        return "exact:" + _digest(head, index, hashed.tobytes())
    positions = _row_positions(np, rows)
    hashed = pd.util.hash_pandas_object(obj.iloc[positions], index=False).to_numpy()
    return "sampled:" + _digest(head, index, hashed.tobytes())


def _row_positions(np, n: int):
    per = max(1, BLOCK_BYTES // 8)
    runs = [np.arange(s, e) for s, e in _blocks(n, per)]
    stride = max(1, n // SAMPLES)
    return np.unique(np.concatenate(runs + [np.arange(0, n, stride)[:SAMPLES]]))


def _sample_rows(np, hashed) -> bytes:
    return hashed[_row_positions(np, hashed.size)].tobytes()
