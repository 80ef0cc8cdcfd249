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


SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")


def format_for(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one the output file's suffix names, else Markdown (no
    suffix). A spreadsheet suffix is refused (no spreadsheet writer is installed: CSV opens
    in every spreadsheet program), and so is any other suffix without --format."""
    suffix = output.suffix.lower() if output is not None else ""
    if suffix in SPREADSHEETS:
        raise BadInputError(f"--output {output}: {suffix} spreadsheets are not written (no "
                            f"spreadsheet writer is installed); write CSV instead, e.g. -o "
                            f"{output.with_suffix('.csv') if output else 'report.csv'}, "
                            "which spreadsheet programs open")
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadInputError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
        return fmt
    if suffix and suffix not in SUFFIXES:
        raise BadInputError(f"--output {output}: unknown extension {suffix!r}; use "
                            f"{' '.join(dict.fromkeys(SUFFIXES))} or choose the format with "
                            "--format")
    return SUFFIXES.get(suffix, "md")


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
