"""ONNX export of a scikit-learn estimator, with a parity check.

ONNX runs the model without Python (onnxruntime in C++, Java, C#, the browser), but the converter
works in float32 and not every estimator has a converter. So the file is only worth shipping with
proof that it predicts what the estimator predicts: `export` runs both on the training rows and
compares (probabilities for classifiers, predictions otherwise). Any failure is a reason, never an
exception: ONNX is a bonus on top of the MLflow model, not a condition for packaging.
"""

from __future__ import annotations

from pathlib import Path

from workbench.deploy.model_card import OnnxFacts

TOLERANCE = 1e-4  # absolute, on probabilities (or predictions): float32 rounding stays far below
PARITY_ROWS = 2000


def _is_sklearn(estimator: object) -> bool:
    return type(estimator).__module__.split(".")[0] == "sklearn"


def export(estimator: object, X, path: Path, tolerance: float = TOLERANCE) -> OnnxFacts:
    """Write `path` (model.onnx) for `estimator`, fed with columns like `X`, and check parity on `X`.

    Returns what happened; `reason` says why there is no file when conversion is impossible.
    """
    if not _is_sklearn(estimator):
        return OnnxFacts(reason=f"{type(estimator).__name__} is not a scikit-learn estimator "
                         "(only scikit-learn models are converted, with skl2onnx)")
    if X is None:
        return OnnxFacts(reason="the rows the model was fitted on were not found, so the input shape is unknown")
    try:
        import numpy as np
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        return OnnxFacts(reason=f"{exc.name} is not installed")
    rows = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.number):
        return OnnxFacts(reason="the model's input is not a numeric table")
    rows = rows[:PARITY_ROWS]
    try:
        onx = convert_sklearn(estimator, initial_types=[("input", FloatTensorType([None, rows.shape[1]]))],
                              options={id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba")
                              else None)
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many kinds; each is a reason to skip
        return OnnxFacts(reason=f"skl2onnx cannot convert {type(estimator).__name__}: {str(exc).splitlines()[0]}")
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    got = session.run(None, {"input": rows.astype(np.float32)})
    frame = X.iloc[: len(rows)] if hasattr(X, "iloc") else rows
    if hasattr(estimator, "predict_proba") and "probabilities" in outputs:
        compared = "predict_proba"
        expected = np.asarray(estimator.predict_proba(frame), dtype=float)
        actual = np.asarray(got[outputs.index("probabilities")], dtype=float)
    else:
        compared = "predict"
        expected = np.asarray(estimator.predict(frame), dtype=float).reshape(len(rows), -1)
        actual = np.asarray(got[0], dtype=float).reshape(len(rows), -1)
    diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    return OnnxFacts(path=path.name, passed=bool(diff <= tolerance), max_abs_diff=diff, tolerance=tolerance,
                     rows=len(rows), compared=compared)
