"""The table model shared by every renderer: columns grouped by family, one row per run or
published model, cells with their value, bold best, delta, interval and footnote marks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from infmllm_eval.errors import BadInputError, shown

MISSING = "–"


@dataclass(frozen=True)
class Column:
    """One metric of one task, under a family header."""

    task: str
    metric: str
    group: str
    label: str
    marks: tuple[str, ...] = ()

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


def best_mask(frame: pd.DataFrame) -> pd.DataFrame:
    """True where a value is its column's highest (ties included), for columns with at least
    two values; every metric in these tables is higher-is-better."""
    counts = frame.count()
    mask: pd.DataFrame = frame.eq(frame.max()) & (counts >= 2)
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
    """The rows with the best value of every column in bold and the deltas to ``baseline``."""
    frame = value_frame([r.label for r in rows], columns,
                        [[c.value for c in r.cells] for r in rows])
    best = best_mask(frame).to_numpy()
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
