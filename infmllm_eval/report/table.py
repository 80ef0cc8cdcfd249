"""The table model shared by every renderer: columns grouped by family, one row per run or
published model, cells with their value, bold best, delta, interval and footnote marks; and
the one cell renderer every format calls with its own :class:`Markup`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.report.declared import HIGHER, LOWER

if TYPE_CHECKING:
    from infmllm_eval.report.provenance import Provenance

MISSING = "–"


@dataclass(frozen=True)
class Column:
    """One metric of one task, under a family header; ``better`` is its direction (higher,
    lower, or none: no value is bold)."""

    task: str
    metric: str
    group: str
    label: str
    marks: tuple[str, ...] = ()
    better: str = HIGHER

    @property
    def key(self) -> str:
        """``task.metric``: the column's name in CSV and on the command line."""
        return f"{self.task}.{self.metric}"


@dataclass(frozen=True)
class Cell:
    """A value (None: absent) with what a renderer adds around it."""

    value: float | None
    text: str = MISSING  # shown when value is None
    bold: bool = False
    delta: float | None = None
    ci: tuple[float, float] | None = None
    marks: tuple[str, ...] = ()
    n: int | None = None  # samples behind the value
    of: int | None = None  # the task's full size, when known
    subset: bool = False  # fewer samples than the full task: never bold, never ranked

    def coverage(self) -> str:
        """``n=12 of 12,578`` for a subset cell that knows its counts, else ''."""
        if not self.subset or self.n is None:
            return ""
        return f"n={self.n:,} of {self.of:,}" if self.of is not None else f"n={self.n:,}, --limit"


@dataclass(frozen=True)
class Row:
    """A run ('run') or a published model ('reference')."""

    label: str
    kind: str
    cells: tuple[Cell, ...]
    marks: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Note:
    """A footnote; ``mark`` is '' for notes that no cell points at."""

    mark: str
    text: str


@dataclass(frozen=True)
class Table:
    """Columns, rows and footnotes; ``corner`` heads the row-label column."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[Note, ...] = ()
    corner: str = "model"
    show_delta: bool = False
    show_ci: bool = False
    provenance: tuple[Provenance, ...] = ()  # one per run row

    def groups(self) -> list[tuple[str, int]]:
        """Consecutive column groups as (header, number of columns)."""
        spans: list[tuple[str, int]] = []
        for column in self.columns:
            if spans and spans[-1][0] == column.group:
                spans[-1] = (column.group, spans[-1][1] + 1)
            else:
                spans.append((column.group, 1))
        return spans


@dataclass
class Marks:
    """Footnote letters, given out in order of first use and shared by equal texts."""

    notes: dict[str, str] = field(default_factory=dict)

    def mark(self, text: str) -> str:
        """The letter of ``text`` (a, b, …, z, aa, ab, …)."""
        if text not in self.notes:
            index, letters = len(self.notes), ""
            while True:
                letters = chr(ord("a") + index % 26) + letters
                index = index // 26 - 1
                if index < 0:
                    break
            self.notes[text] = letters
        return self.notes[text]

    def as_notes(self) -> list[Note]:
        """The marked footnotes in mark order."""
        return [Note(mark, text) for text, mark in self.notes.items()]


def value_frame(labels: Sequence[str], columns: Sequence[Column],
                values: Sequence[Sequence[float | None]]) -> pd.DataFrame:
    """Rows x column keys, NaN where absent."""
    data = [[math.nan if v is None else float(v) for v in row] for row in values]
    frame: pd.DataFrame = pd.DataFrame(data, index=list(labels),
                                       columns=[c.key for c in columns], dtype="float64")
    return frame


def best_mask(frame: pd.DataFrame, better: Sequence[str] | None = None) -> pd.DataFrame:
    """True where a value is its column's best (ties included), for columns with at least
    two values: the highest, the lowest where ``better`` says lower, none where it says
    none (default: every column higher-is-better)."""
    directions = pd.Series(list(better) if better is not None else [HIGHER] * frame.shape[1],
                           index=frame.columns, dtype=object)
    best = frame.max().where(directions == HIGHER, frame.min().where(directions == LOWER))
    mask: pd.DataFrame = frame.eq(best) & (frame.count() >= 2)
    return mask


def delta_frame(frame: pd.DataFrame, baseline: str | None) -> pd.DataFrame | None:
    """Each value minus the baseline row's value in its column (None without a baseline)."""
    if baseline is None:
        return None
    if baseline not in frame.index:
        raise BadInputError(f"--baseline {shown(baseline)} is not a row of the table (rows: "
                            f"{', '.join(map(str, frame.index))})")
    deltas: pd.DataFrame = frame - frame.loc[baseline]
    return deltas


def compose(rows: Sequence[Row], columns: Sequence[Column],
            baseline: str | None = None) -> tuple[Row, ...]:
    """The rows with the best value of every column in bold and the deltas to ``baseline``;
    subset cells are left out of the ranking (never bold, never taking bold away)."""
    labels = [r.label for r in rows]
    frame = value_frame(labels, columns, [[c.value for c in r.cells] for r in rows])
    ranked = value_frame(labels, columns, [[None if c.subset else c.value for c in r.cells]
                                           for r in rows])
    best = best_mask(ranked, [c.better for c in columns]).to_numpy()
    found = delta_frame(frame, baseline)
    deltas = found.to_numpy(dtype="float64") if found is not None else None
    out = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row.cells):
            delta = None
            if deltas is not None and row.label != baseline:
                value = float(deltas[i, j])
                delta = None if math.isnan(value) else value
            cells.append(replace(cell, bold=bool(best[i, j]), delta=delta))
        out.append(replace(row, cells=tuple(cells)))
    return tuple(out)


def fmt_value(value: float) -> str:
    """Two decimals, as the papers print these metrics."""
    return f"{value:.2f}"


def fmt_delta(delta: float) -> str:
    """Signed, two decimals; a difference that rounds to zero is +0.00."""
    return f"{0.0 if abs(delta) < 0.005 else delta:+.2f}"


def fmt_ci(ci: tuple[float, float]) -> str:
    """``[low, high]``."""
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


@dataclass(frozen=True)
class Markup:
    """How one format writes literal text and a cell's parts: ``delta`` and ``ci`` get the
    formatted text (``+1.25``, ``[60.00, 70.00]``) and return what follows the value."""

    escape: Callable[[str], str]
    bold: Callable[[str], str]
    delta: Callable[[str], str]
    ci: Callable[[str], str]
    sup: Callable[[tuple[str, ...]], str]
    subset: Callable[[str], str]


def render_cell(cell: Cell, table: Table, markup: Markup) -> str:
    """A cell's content in one format: value (bold when best) or its text, then the delta
    and interval the table shows, the sample count of a subset, then the footnote marks."""
    subset = markup.subset(cell.coverage()) if cell.coverage() else ""
    if cell.value is None:
        return markup.escape(cell.text) + subset + markup.sup(cell.marks)
    text = markup.escape(fmt_value(cell.value))
    text = markup.bold(text) if cell.bold else text
    if table.show_delta and cell.delta is not None:
        text += markup.delta(fmt_delta(cell.delta))
    if table.show_ci and cell.ci is not None:
        text += markup.ci(fmt_ci(cell.ci))
    return text + subset + markup.sup(cell.marks)
