"""Console output: the progress of a run and the result tables; rich on a terminal, plain
tab-separated rows and progress lines when piped or redirected (a log, `| grep`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from rich.console import Console, ConsoleOptions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.progress import Task as RichTask
from rich.table import Table
from rich.text import Text

from infmllm_eval.engine.progress import Progress
from infmllm_eval.errors import BadInputError, one_line

out = Console(emoji=False)  # ":x:" in a name or message is text, not an emoji
err = Console(stderr=True, emoji=False)


class SpeedColumn(ProgressColumn):
    """Samples per second since the task started."""

    def render(self, task: RichTask) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} samples/s" if speed else "– samples/s", style="cyan")


class RichProgress(Progress):
    """Progress per task: bar, done/total, samples/s, elapsed and ETA (on stderr)."""

    def __init__(self) -> None:
        self._bar: RichBar | None = None
        self._task: Any = None

    def start(self, task: str, total: int, done: int) -> None:
        self._bar = RichBar(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), SpeedColumn(), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=err)
        self._bar.start()
        self._task = self._bar.add_task(task, total=total, completed=done)

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def abort(self) -> None:
        """Take the bar down after an error or Ctrl-C (the terminal gets its cursor back and
        the message is the last thing shown)."""
        if self._bar is not None:
            self._bar.live.transient = True
            self._bar.stop()
            self._bar = None


PROGRESS_ENV = "INFMLLM_EVAL_PROGRESS_S"


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal (not a pipe, a file or a captured stream)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class PlainProgress(Progress):
    """Progress as plain lines on stderr, for logs: one when a task starts, one every
    ``interval`` seconds while it runs (checked as answers arrive) and one when it ends."""

    def __init__(self, n_tasks: int = 0, interval: float | None = None,
                 stream: IO[str] | None = None) -> None:
        self.n_tasks = n_tasks
        self.interval = progress_interval() if interval is None else interval
        self._stream, self._index = stream, 0
        self._task, self._total, self._done, self._resumed = "", 0, 0, 0
        self._t0 = self._last = 0.0

    def _line(self, text: str) -> None:
        stream = self._stream or sys.stderr
        of = f" {self._index}/{self.n_tasks}" if self.n_tasks else f" {self._index}"
        stream.write(f"progress: task{of} {self._task}: {text}\n")
        stream.flush()

    def _status(self) -> str:
        elapsed = time.monotonic() - self._t0
        new = self._done - self._resumed
        rate = new / elapsed if elapsed > 0 and new else 0.0
        left = self._total - self._done
        eta = _clock(left / rate) if rate else "unknown"
        return (f"{self._done:,}/{self._total:,} done, {rate:,.1f} samples/s, "
                f"elapsed {_clock(elapsed)}, ETA {eta}")

    def start(self, task: str, total: int, done: int) -> None:
        self._index += 1
        self._task, self._total, self._done, self._resumed = task, total, done, done
        self._t0 = self._last = time.monotonic()
        resumed = f" ({done:,} journaled before)" if done else ""
        self._line(f"started, {done:,}/{total:,} done{resumed}")

    def advance(self, count: int) -> None:
        self._done += count
        if time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self._line(self._status())

    def finish(self) -> None:
        self._line(f"finished, {self._status()}")

    def abort(self) -> None:
        self._line(f"stopped, {self._done:,}/{self._total:,} done")


def progress_interval() -> float:
    """Seconds between plain progress lines: $INFMLLM_EVAL_PROGRESS_S, default 30."""
    raw = os.environ.get(PROGRESS_ENV, "").strip()
    if not raw:
        return 30.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise BadInputError(f"{PROGRESS_ENV}={one_line(raw)}: expected a number of seconds "
                            "(0 or more)")
    return value


def console_progress(n_tasks: int = 0) -> Progress:
    """The rich bar when stderr is a terminal, else plain progress lines (a log, SLURM)."""
    return RichProgress() if is_terminal(err.file) else PlainProgress(n_tasks)


def plain_cell(text: str) -> str:
    """One tab-separated cell: lines joined with '; ', tabs and control characters escaped."""
    return "; ".join(one_line(line) for line in text.split("\n") if line)


def tsv(rows: list[dict[str, str]], header: list[str] | None = None) -> str:
    """A header row, then one row per item; cells never cut."""
    columns = header or (list(rows[0]) if rows else [])
    lines = ["\t".join(columns)] + ["\t".join(plain_cell(row.get(c, "")) for c in columns)
                                    for row in rows]
    return "\n".join(lines) + "\n"


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout (``--json``)."""
    from infmllm_eval.jsonio import json_text

    out.file.write(json_text(value).decode())  # as metrics.json: NaN is null, not 'NaN'
    out.file.flush()


def print_rows(title: str, rows: list[dict[str, str]], vertical: bool = False) -> None:
    """A table of ``rows`` (cells are literal text): rich on a terminal, where names and
    short cells keep their full width and long ones fold (never cut), or with ``vertical``
    one block of 'field value' lines per row (too many columns for one table); tab-separated
    rows otherwise."""
    if not is_terminal(out.file):
        out.file.write(tsv(rows))
        out.file.flush()
        return
    from infmllm_eval.listing import shown_rows

    if vertical:
        for row in shown_rows(rows):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(overflow="fold")
            first, *rest = row.items()
            grid.add_row(first[0], f"[bold]{first[1]}[/]")
            for key, value in rest:
                grid.add_row(key, value)
            out.print(grid, "")
        return
    table = Table(title=title)
    columns = list(rows[0]) if rows else ["(none)"]
    for i, col in enumerate(columns):
        longest = max((len(line) for r in rows for line in r[col].split("\n")), default=0)
        if i == 0 or longest <= 12:  # a name, or a short value such as a size
            table.add_column(col, no_wrap=True, min_width=min(longest, 40), overflow="fold")
        else:
            table.add_column(col, overflow="fold")
    for row in shown_rows(rows):
        table.add_row(*row.values())
    out.print(table)


class PipedTable:
    """A rich table that prints itself as tab-separated rows, uncut, when the console it
    is printed on is not a terminal (a log, a pipe)."""

    def __init__(self, table: Table, rows: list[dict[str, str]]) -> None:
        self.table, self.rows = table, rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        if is_terminal(console.file):
            yield self.table
            return
        # written past rich, which would crop each line to the console width
        console.file.write(tsv(self.rows))
        console.file.flush()


def _value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _details(entry: dict[str, Any]) -> str:
    primary = entry.get("primary_metric")
    parts = [f"{k.removeprefix(f'{primary}_')} {_value(v)}"
             for k, v in entry.get("metrics", {}).items() if k != primary]
    variant = ", ".join(f"{k}={v}" for k, v in entry.get("variant", {}).items() if v != "none")
    return "\n".join(p for p in (" · ".join(parts), variant) if p)


def metrics_table(tasks: dict[str, Any], title: str = "Results") -> PipedTable:
    """Summary: one row per task with its primary metric, 95% interval, counts and details
    (the other metrics and the scoring variant); tab-separated rows when not a terminal."""
    table = Table(title=title)
    table.add_column("task", overflow="fold")
    table.add_column("metric")
    for col in ("value", "95% CI", "scored", "missing"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("details", overflow="fold")
    header = ["task", "metric", "value", "95% CI", "scored", "missing", "details"]
    rows = []
    for name, entry in tasks.items():
        if "submission" in entry:
            cells = [name, "submission", "", "", str(entry["n_samples"]),
                     str(entry["n_missing"]), f"{entry['submission']}\n{_details(entry)}"]
        else:
            primary = entry["primary_metric"]
            ci = entry["ci95"].get(primary)
            cells = [name, primary + (" (partial)" if entry["partial"] else ""),
                     _value(entry["metrics"][primary]),
                     f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else "", str(entry["n_scored"]),
                     str(entry["n_missing"]), _details(entry)]
        table.add_row(*cells)
        rows.append(dict(zip(header, cells, strict=True)))
    return PipedTable(table, rows)
