"""Every PNG syncbench draws is set up and saved here: deterministic bytes, written atomically.

Figures are built with matplotlib's object API on the Agg backend (no pyplot state, safe in any
process), in the default style whatever the user's matplotlibrc says, at a fixed dpi, and saved
without the Software/date metadata, so the same input gives the same bytes. A PNG is written to a
unique temp file in its folder and replaced into place, so readers never see half an image and a
failed drawing leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import style  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.results.files import atomic_file  # noqa: E402

__all__ = ["DPI", "PANEL_SIZE", "canvas", "panels", "save"]

PANEL_SIZE = (8.0, 5.0)  # inches per panel
DPI = 100


@contextmanager
def canvas(width: float, height: float) -> Iterator[Figure]:
    """An empty figure of `width` x `height` inches in matplotlib's default style (ignoring any matplotlibrc);
    save it inside the `with`, so it is drawn in that style too."""
    with style.context("default"):
        yield Figure(figsize=(width, height), dpi=DPI, layout="constrained")


@contextmanager
def panels(count: int = 1, size: tuple[float, float] = PANEL_SIZE) -> Iterator[tuple[Figure, list[Axes]]]:
    """A figure of `count` panels side by side, each `size` inches."""
    count = max(count, 1)
    with canvas(size[0] * count, size[1]) as fig:
        yield fig, list(fig.subplots(1, count, squeeze=False)[0])


def save(fig: Figure, path: Path) -> Path:
    """Write the figure as a PNG at `path` atomically (`atomic_file`); on any failure an existing file at
    `path` is left as it was."""
    path = Path(path)
    with atomic_file(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI, metadata={"Software": None})
    return path
