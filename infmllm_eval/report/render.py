"""One entry point for every format: results in, report text out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.reference import ReferenceFile
from infmllm_eval.report.runs import RunResult

FORMATS = ("md", "csv", "latex", "html")
SUFFIXES = {".md": "md", ".markdown": "md", ".csv": "csv", ".tex": "latex", ".html": "html",
            ".htm": "html"}


def format_for(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one the output file's suffix names, else Markdown."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadInputError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
        return fmt
    if output is not None:
        return SUFFIXES.get(output.suffix.lower(), "md")
    return "md"


def render_report(runs: Sequence[RunResult], fmt: str,
                  references: Sequence[ReferenceFile] = (), baseline: str | None = None,
                  show_ci: bool = False, title: str = "infmllm-eval report",
                  ) -> str:
    """The leaderboard of ``runs`` (and the published rows) in ``fmt``."""
    from infmllm_eval.report.leaderboard import build_leaderboard

    table = build_leaderboard(runs, references, baseline, show_ci, title)
    if not table.columns:
        raise BadInputError("nothing to report: no run has a scored task"
                            + (" that the reference covers" if references else ""))
    if fmt == "md":
        from infmllm_eval.report.render_text import render_markdown

        return render_markdown(table)
    if fmt == "csv":
        from infmllm_eval.report.render_text import render_csv

        return render_csv(table)
    if fmt == "latex":
        from infmllm_eval.report.latex import render_latex

        return render_latex(table)
    from infmllm_eval.report.html import render_html

    return render_html(table, runs)
