"""Two pictures compared as a person looks at them: one rule for rendered figures and displayed PNGs.

Two renderings of the same picture are rarely identical pixel for pixel: constrained layout
places an axis from text extents, and a sub-pixel change in them moves a spine or a tick by one
pixel (seen on matplotlib's own `axes_scales` example: a notebook run and a pipeline run of the
same cell, 0.21% of pixels "changed", all on one vertical line); anti-aliasing spreads a point
over its neighbours. Neither is something a reader of the figure can see.

So a pixel *differs* only when no pixel within one pixel of it in the other image has nearly the
same colour (every channel within PIXEL_THRESHOLD), looked at both ways; two images are the same
when at most PIXEL_FRACTION of their pixels differ. A curve that moved further, a changed colour,
a missing marker, other tick labels are differences.
"""

from __future__ import annotations

import sys
from typing import Any

PIXEL_THRESHOLD = 16 / 255  # per channel, colours in 0..1
PIXEL_FRACTION = 1e-4  # of the image's pixels
SHIFT = 1  # pixels a feature may move


def _numpy() -> Any:
    np = sys.modules.get("numpy")
    if np is None:
        import numpy as np
    return np


def unmatched(a: Any, b: Any) -> Any:
    """Boolean H x W: the pixels of `a` with no pixel of nearly its colour within SHIFT pixels in `b`."""
    np = _numpy()
    height, width = a.shape[:2]
    padded = np.pad(b, ((SHIFT, SHIFT), (SHIFT, SHIFT), (0, 0)), mode="edge")
    best = None
    for dy in range(2 * SHIFT + 1):
        for dx in range(2 * SHIFT + 1):
            delta = np.abs(a - padded[dy: dy + height, dx: dx + width]).max(axis=2)
            best = delta if best is None else np.minimum(best, delta)
    return best > PIXEL_THRESHOLD


def difference(a: Any, b: Any) -> str | None:
    """None when the two H x W x C float images (0..1) look the same, else how they differ."""
    np = _numpy()
    if a.shape != b.shape:
        return f"in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]} px"
    if np.array_equal(a, b):
        return None
    differ = unmatched(a, b) | unmatched(b, a)
    n = int(differ.sum())
    if n <= PIXEL_FRACTION * differ.size:
        return None
    rows = np.flatnonzero(differ.any(axis=1))
    columns = np.flatnonzero(differ.any(axis=0))
    return (f"{n / differ.size:.2%} of pixels differ ({n} of {differ.size} at {a.shape[1]}x{a.shape[0]} px) "
            f"by more than {PIXEL_THRESHOLD:.0%} beyond a {SHIFT}-pixel shift, "
            f"in x {columns[0]}-{columns[-1]}, y {rows[0]}-{rows[-1]}")
