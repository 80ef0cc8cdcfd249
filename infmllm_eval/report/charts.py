"""Grouped bar charts as PNG bytes (matplotlib's Agg renderer, no pyplot, no global state)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

Series = tuple[str, Sequence[float | None], str]  # name, values, colour


def _plain(text: str) -> str:
    """Text matplotlib shows literally: no mathtext from '$', no hidden '_' legend labels."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series],
              unit: str, horizontal: bool = False) -> bytes:
    """One group of bars per category, one bar per series (absent values leave a gap); a
    series keeps its colour (e.g. ``C0``…``C9``) across charts."""
    from matplotlib.figure import Figure

    n_cat, n_ser = len(categories), max(1, len(series))
    slot = 0.8 / n_ser
    legend_rows = len(series)
    if horizontal:
        size = (8.0, min(24.0, max(3.0, 1.2 + n_cat * (0.15 + 0.12 * n_ser))
                         + 0.22 * legend_rows))
    else:
        size = (min(16.0, max(6.0, 1.5 + n_cat * (0.35 + 0.2 * n_ser))),
                4.2 + 0.22 * legend_rows)
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(n_cat, dtype=float)
    for k, (name, values, colour) in enumerate(series):
        heights = np.array([np.nan if v is None else v for v in values], dtype=float)
        offsets = positions - 0.4 + slot * (k + 0.5)
        if horizontal:
            ax.barh(offsets, heights, slot, label=_plain(name), color=colour)
        else:
            ax.bar(offsets, heights, slot, label=_plain(name), color=colour)
    labels = [_plain(c) for c in categories]
    if horizontal:
        ax.set_yticks(positions, labels, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(_plain(unit))
        ax.grid(axis="x", alpha=0.3)
    else:
        tilt = n_cat > 3 or (n_cat > 1 and max(len(c) for c in labels) > 10)
        ax.set_xticks(positions, labels, rotation=30 if tilt else 0,
                      ha="right" if tilt else "center", fontsize="small")
        ax.set_ylabel(_plain(unit))
        ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(_plain(title))
    if series:
        fig.legend(loc="outside lower center", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
