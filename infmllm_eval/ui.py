"""Console output: the rich progress bar of a run and the result tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
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


def _value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _details(entry: dict[str, Any]) -> str:
    primary = entry.get("primary_metric")
    parts = [f"{k.removeprefix(f'{primary}_')} {_value(v)}"
             for k, v in entry.get("metrics", {}).items() if k != primary]
    variant = ", ".join(f"{k}={v}" for k, v in entry.get("variant", {}).items() if v != "none")
    return "\n".join(p for p in (" · ".join(parts), variant) if p)


def metrics_table(tasks: dict[str, Any], title: str = "Results") -> Table:
    """Summary: one row per task with its primary metric, 95% interval, counts and details
    (the other metrics and the scoring variant)."""
    table = Table(title=title)
    table.add_column("task", overflow="fold")
    table.add_column("metric")
    for col in ("value", "95% CI", "scored", "missing"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("details", overflow="fold")
    for name, entry in tasks.items():
        if "submission" in entry:
            table.add_row(name, "submission", "", "", str(entry["n_samples"]),
                          str(entry["n_missing"]), f"{entry['submission']}\n{_details(entry)}")
            continue
        primary = entry["primary_metric"]
        ci = entry["ci95"].get(primary)
        table.add_row(name, primary + (" (partial)" if entry["partial"] else ""),
                      _value(entry["metrics"][primary]),
                      f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else "", str(entry["n_scored"]),
                      str(entry["n_missing"]), _details(entry))
    return table
