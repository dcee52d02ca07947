"""A training-data profile: what the model saw, kept beside the packaged model.

Drift is a comparison between the rows a model was trained on and the rows it is asked to score.
The training rows are not shipped with the model (size, privacy), so packaging keeps a profile
instead: per column, enough to run the drift tests later without the data:

- numeric: decile bin edges with the training fraction in each bin (for the population stability
  index), a fixed-size random sample (for Kolmogorov-Smirnov), mean, std, min, max, null fraction;
- categorical (strings, booleans, or integers with few distinct values): category frequencies (for
  chi-square and PSI), with everything rare folded into `__other__`;

plus the same for the model's predictions on the training rows. A profile is plain JSON
(`training_profile.json`), readable and diffable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SAMPLE = 2000
BINS = 10
MAX_CATEGORIES = 30
OTHER = "__other__"


def _is_categorical(series) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return True
    if pd.api.types.is_integer_dtype(series):
        return series.nunique(dropna=True) <= 10
    return False


def column_profile(series, seed: int = 0) -> dict[str, Any]:
    """The profile of one column (a pandas Series)."""
    import numpy as np

    n = int(len(series))
    nulls = float(series.isna().mean()) if n else 0.0
    values = series.dropna()
    if _is_categorical(series):
        counts = values.astype(str).value_counts()
        total = float(counts.sum()) or 1.0
        freqs = {str(k): float(v) / total for k, v in counts.items()}
        if len(freqs) > MAX_CATEGORIES:
            kept = dict(list(freqs.items())[:MAX_CATEGORIES - 1])
            kept[OTHER] = 1.0 - sum(kept.values())
            freqs = kept
        return {"kind": "categorical", "count": n, "null_fraction": nulls, "frequencies": freqs}
    data = values.to_numpy(dtype=float)
    if data.size == 0:
        return {"kind": "numeric", "count": n, "null_fraction": nulls, "edges": [], "fractions": [], "sample": []}
    edges = decile_edges(data)
    fractions = bin_fractions(data, edges)
    rng = np.random.default_rng(seed)
    sample = data if data.size <= SAMPLE else rng.choice(data, SAMPLE, replace=False)
    return {
        "kind": "numeric", "count": n, "null_fraction": nulls,
        "mean": float(data.mean()), "std": float(data.std()), "min": float(data.min()), "max": float(data.max()),
        "edges": [float(e) for e in edges], "fractions": fractions,
        "sample": [float(x) for x in np.sort(sample)],
    }


PSI_FLOOR = 1e-4  # empty bins: PSI is infinite on a zero fraction; the usual floor


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two distributions over the same bins: one formula for
    `workbench monitor` (monitor/drift.py) and the server's live gauges (deploy/serving/drift_window.py)."""
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def decile_edges(data) -> list[float]:
    """The inner bin edges of `data` (finite numbers): its deciles, duplicates merged."""
    import numpy as np

    return np.unique(np.quantile(np.asarray(data, dtype=float), np.linspace(0, 1, BINS + 1))[1:-1]).tolist()


def bin_fractions(data, edges: list[float]) -> list[float]:
    """Fractions of `data` in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    import numpy as np

    data = np.asarray(data, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return [0.0] * (len(edges) + 1)
    index = np.searchsorted(np.asarray(edges, dtype=float), data, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return [float(c) / data.size for c in counts]


def capture_profile(frame, predictions=None, *, source: str = "") -> dict[str, Any]:
    """Profile a training frame (and the model's predictions on it, when given)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    profile: dict[str, Any] = {
        "schema": "workbench.profile/1",
        "source": source,
        "rows": int(len(frame)),
        "columns": {str(c): column_profile(frame[c]) for c in frame.columns},
    }
    if predictions is not None:
        import numpy as np

        preds = np.asarray(predictions)
        if preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        if preds.ndim == 1:
            profile["predictions"] = column_profile(pd.Series(preds))
    return profile


def save_profile(profile: dict, path: Path) -> Path:
    path.write_text(json.dumps(profile, indent=1, allow_nan=False, default=_finite))
    return path


def load_profile(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    if data.get("schema") != "workbench.profile/1":
        raise ValueError(f"{path}: not a Workbench training profile")
    return data


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
