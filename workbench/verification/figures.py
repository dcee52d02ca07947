"""Figures compared by what they draw.

A matplotlib ``Figure`` carries stale flags, callback registries, object ids
and parent pointers that differ between two runs that draw the same picture,
so figures are never compared attribute by attribute: both are rendered to
RGBA with the Agg backend, the second at the first one's size and DPI, and the
pixels are compared.

The tolerance is perceptual and shared with displayed images (images.py): a
feature may move by one pixel, colours may change within a threshold.

Only called when matplotlib is already loaded (``figure_of`` looks in
``sys.modules``), so importing this module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from typing import Any

# Attributes through which an object shows a figure: scikit-learn's *Display
# (figure_), seaborn's FacetGrid/PairGrid/JointGrid (figure, fig).
_HOLDER_ATTRIBUTES = ("figure_", "figure", "fig")


def figure_of(value: Any) -> Any:
    """The matplotlib Figure that ``value`` draws, or None when it is not a figure-like value.

    A Figure is itself; an Axes or any other artist is the figure it is drawn in;
    a display object or a seaborn grid is the figure it holds.
    """
    if "matplotlib.artist" not in sys.modules:  # no artist can exist: nothing to import
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


def drawn_properties(artist: Any) -> dict[str, Any]:
    """What an artist outside any figure would draw: its class and its plain properties (colour,
    label, line width, marker, visibility...), without the transforms, figure and axes pointers and
    callbacks that differ between two runs. matplotlib's legend guide builds legend handles this
    way (`mpatches.Patch(color="red", label=...)`, `mlines.Line2D([], [], ...)`)."""
    np = sys.modules.get("numpy")
    plain: dict[str, Any] = {"class": type(artist).__qualname__}
    try:
        properties = artist.properties()
    except Exception:  # noqa: BLE001 - a third-party artist's getters
        return plain
    for name, value in sorted(properties.items()):
        if isinstance(value, (str, int, float, bool, type(None))) or (
                isinstance(value, tuple) and all(isinstance(v, (int, float, str)) for v in value)):
            plain[name] = value
        elif np is not None and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            plain[name] = value
    return plain


def _root(artist: Any) -> Any:
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10 has no root=
        figure = artist.get_figure()
        while figure is not None and getattr(figure, "figure", figure) is not figure:
            figure = figure.figure
        return figure


# Drawn pictures by fingerprint: a task's `fig`, `ax` and `axs` are three products, each its own copy
# of one figure once loaded, and drawing is nearly all of verify's comparison time (matplotlib's
# arranging_axes example: 54 draws, 23 of its 25 seconds). Bounded: an image is width x height x 4 bytes.
_DRAWN: dict[tuple, Any] = {}
_PRINTS: weakref.WeakKeyDictionary | None = None  # per figure object, only inside memo()


@contextlib.contextmanager
def memo() -> Any:
    """Inside, a figure object's fingerprint is computed once: for verify's comparison of loaded
    products, which nothing changes meanwhile. Outside, every call pickles again (a figure the
    caller changed between two comparisons is another state)."""
    global _PRINTS
    outer = _PRINTS
    _PRINTS = weakref.WeakKeyDictionary() if outer is None else outer
    try:
        yield
    finally:
        _PRINTS = outer
        if outer is None:
            _DRAWN.clear()
_DRAWN_MAX = 16


def fingerprint(figure: Any) -> bytes | None:
    """The figure's state as pickle bytes, less what never changes a picture and differs between two
    loaded copies of one figure: its callback registries and its pyplot number. None: not picklable
    by the standard pickler (a lambda formatter: drawn every time). Memoised per object in memo()."""
    if _PRINTS is not None:
        with contextlib.suppress(KeyError, TypeError):
            return _PRINTS[figure]
    import hashlib
    import io
    import pickle

    from matplotlib.cbook import CallbackRegistry

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, CallbackRegistry):
                return (type(None), ())
            return NotImplemented

    number = getattr(figure, "_number", None)
    buffer = io.BytesIO()
    try:
        figure._number = None
        Pickler(buffer, protocol=5).dump(figure)
        digest: bytes | None = hashlib.sha256(buffer.getvalue()).digest()
    except Exception:  # noqa: BLE001 - an artist that does not pickle: drawn every time
        digest = None
    finally:
        figure._number = number
    if _PRINTS is not None:
        with contextlib.suppress(TypeError):
            _PRINTS[figure] = digest
    return digest


def render(figure: Any, size: Any = None, dpi: float | None = None) -> Any:
    """RGBA pixels (height x width x 4, uint8) of ``figure`` drawn by Agg at ``size`` inches and ``dpi``,
    drawn once per distinct figure state (fingerprint).

    The figure is left as it was: its canvas, size and DPI are restored.
    """
    print_key = fingerprint(figure)
    key = (print_key, tuple(size) if size is not None else None, dpi)
    if print_key is not None and key in _DRAWN:
        return _DRAWN[key]
    image = draw(figure, size, dpi)
    if print_key is not None:
        if len(_DRAWN) >= _DRAWN_MAX:
            _DRAWN.pop(next(iter(_DRAWN)))
        _DRAWN[key] = image
    return image


def draw(figure: Any, size: Any = None, dpi: float | None = None) -> Any:
    """render() without the memo."""
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
    same = fingerprint(a)
    if same is not None and same == fingerprint(b):  # one state (pickled alike): one picture, no drawing
        return None
    size = a.get_size_inches().copy()
    dpi = a.dpi
    image_a = render(a, size, dpi)
    image_b = render(b, size, dpi)
    if image_a.shape != image_b.shape:  # rounding of size * dpi: cannot happen at one size, but be safe
        return f"rendered size {image_a.shape[1]}x{image_a.shape[0]} vs {image_b.shape[1]}x{image_b.shape[0]}"
    from workbench.verification.images import difference

    why = difference(image_a.astype(np.float32) / 255, image_b.astype(np.float32) / 255)
    return why and f"the figures draw differently: {why}"
