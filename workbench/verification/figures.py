"""Figures compared by what they draw.

A matplotlib ``Figure`` carries stale flags, callback registries, object ids
and parent pointers that differ between two runs that draw the same picture,
so figures are never compared attribute by attribute: both are rendered to
RGBA with the Agg backend, the second at the first one's size and DPI, and the
pixels are compared.

The tolerance is perceptual: both images are blurred with a 3x3 box filter
(anti-aliasing and sub-pixel float noise move a pixel's neighbours, not the
picture), a pixel *differs* when one of its channels changed by more than
``PIXEL_THRESHOLD`` (16/255) after the blur, and two figures are equal when at
most ``PIXEL_FRACTION`` (0.01%) of their pixels differ.

Only called when matplotlib is already loaded (``figure_of`` looks in
``sys.modules``), so importing this module imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any

PIXEL_THRESHOLD = 16 / 255
PIXEL_FRACTION = 1e-4

# Attributes through which an object shows a figure: scikit-learn's *Display
# (figure_), seaborn's FacetGrid/PairGrid/JointGrid (figure, fig).
_HOLDER_ATTRIBUTES = ("figure_", "figure", "fig")


def figure_of(value: Any) -> Any:
    """The matplotlib Figure that ``value`` draws, or None when it is not a figure-like value.

    A Figure is itself; an Axes or any other artist is the figure it is drawn in;
    a display object or a seaborn grid is the figure it holds.
    """
    if "matplotlib" not in sys.modules or "matplotlib.figure" not in sys.modules:
        return None
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure, SubFigure

    if isinstance(value, Figure):
        return value
    if isinstance(value, (Artist, SubFigure)):
        figure = _root(value)
        return figure if isinstance(figure, Figure) else UNATTACHED
    if isinstance(value, type):
        return None
    for name in _HOLDER_ATTRIBUTES:
        try:
            held = getattr(value, name, None)
        except Exception:  # noqa: BLE001 - a property of an arbitrary object
            continue
        if isinstance(held, Figure):
            return held
    return None


UNATTACHED = object()  # an artist that is not in any figure: nothing is drawn


def _root(artist: Any) -> Any:
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10 has no root=
        figure = artist.get_figure()
        while figure is not None and getattr(figure, "figure", figure) is not figure:
            figure = figure.figure
        return figure


def render(figure: Any, size: Any = None, dpi: float | None = None) -> Any:
    """RGBA pixels (height x width x 4, uint8) of ``figure`` drawn by Agg at ``size`` inches and ``dpi``.

    The figure is left as it was: its canvas, size and DPI are restored.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    original_canvas = figure.canvas
    original_size = figure.get_size_inches().copy()
    original_dpi = figure.dpi
    try:
        canvas = FigureCanvasAgg(figure)  # sets figure.canvas; the original is put back below
        if dpi is not None:
            figure.dpi = dpi
        if size is not None:
            figure.set_size_inches(size, forward=False)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()
    finally:
        figure.set_size_inches(original_size, forward=False)
        figure.dpi = original_dpi
        figure.set_canvas(original_canvas)


def compare_figures(a: Any, b: Any) -> str | None:
    """None when ``a`` and ``b`` draw the same picture, else how much of it differs."""
    np = sys.modules.get("numpy")
    if np is None:
        import numpy as np
    size = a.get_size_inches().copy()
    dpi = a.dpi
    image_a = render(a, size, dpi)
    image_b = render(b, size, dpi)
    if image_a.shape != image_b.shape:  # rounding of size * dpi: cannot happen at one size, but be safe
        return f"rendered size {image_a.shape[1]}x{image_a.shape[0]} vs {image_b.shape[1]}x{image_b.shape[0]}"
    if np.array_equal(image_a, image_b):
        return None
    delta = np.abs(_blur(image_a.astype(np.float32) / 255) - _blur(image_b.astype(np.float32) / 255)).max(axis=2)
    differ = delta > PIXEL_THRESHOLD
    n = int(differ.sum())
    total = differ.size
    if n <= PIXEL_FRACTION * total:
        return None
    rows = np.flatnonzero(differ.any(axis=1))
    columns = np.flatnonzero(differ.any(axis=0))
    return (
        f"the figures draw differently: {n / total:.2%} of pixels differ ({n} of {total} at "
        f"{image_a.shape[1]}x{image_a.shape[0]} px), max difference {float(delta.max()):.0%}, "
        f"in x {columns[0]}-{columns[-1]}, y {rows[0]}-{rows[-1]}"
    )


def _blur(image: Any) -> Any:
    """3x3 box blur of an H x W x C float image (edges replicated)."""
    np = sys.modules["numpy"]
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    total = np.zeros_like(image)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + height, dx : dx + width]
    return total / 9
