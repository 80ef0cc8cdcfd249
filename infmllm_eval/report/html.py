"""A self-contained HTML report: the leaderboard, detail tables and bar charts embedded as
base64 PNG. Its Content-Security-Policy forbids every network fetch and script, so the file
renders identically offline."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from html import escape

from infmllm_eval.report.charts import Series, bar_chart
from infmllm_eval.report.declared import LOWER, NO_DIRECTION
from infmllm_eval.report.details import mmbench_table, mme_table
from infmllm_eval.report.runs import RunResult
from infmllm_eval.report.table import Column, Markup, Table, render_cell

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; white-space: nowrap; }
thead th { border-bottom: 2px solid #444; }
th.group { border-bottom: 1px solid #444; text-align: center; }
tbody th { text-align: left; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.reference td { font-style: italic; color: #555; }
.delta, .ci, .subset { color: #666; font-size: 0.8em; }
#runs-table td { white-space: normal; text-align: left; }
ul.notes { font-size: 0.8rem; color: #444; padding-left: 1.2rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
"""


def _sup(marks: tuple[str, ...]) -> str:
    return f"<sup>{escape(','.join(marks))}</sup>" if marks else ""


HTML = Markup(escape=escape, bold=lambda text: f"<strong>{text}</strong>",
              delta=lambda text: f' <span class="delta">({escape(text)})</span>',
              ci=lambda text: f' <span class="ci">{escape(text)}</span>', sup=_sup,
              subset=lambda text: f' <span class="subset">({escape(text)})</span>')


def render_provenance(table: Table) -> list[str]:
    """A section with one line per run row: results, run id, date, samples, command."""
    if not table.provenance:
        return []
    head = "".join(f'<th scope="col">{name}</th>' for name in
                   ("run", "results", "run id", "date", "samples", "command"))
    lines = ['<section id="runs">', "<h2>Runs</h2>", '<div class="scroll"><table id="runs-table">',
             f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for p in table.provenance:
        cells = "".join(f"<td>{text}</td>" for text in (
            f"<code>{escape(p.source)}</code>", escape(p.run_id), escape(p.date),
            escape(p.samples), f"<code>{escape(p.command)}</code>"))
        lines.append(f'<tr><th scope="row">{escape(p.label)}</th>{cells}</tr>')
    return [*lines, "</tbody>", "</table></div>", "</section>"]


def render_table(table: Table, table_id: str) -> str:
    """One ``<table>`` with a two-level header, then its notes as a list."""
    groups = "".join(f'<th colspan="{width}" scope="colgroup" class="group">{escape(group)}'
                     "</th>" for group, width in table.groups())
    labels = "".join(f'<th scope="col">{escape(c.label)}{_sup(c.marks)}</th>'
                     for c in table.columns)
    lines = [f'<div class="scroll"><table id="{escape(table_id)}">', "<thead>",
             f'<tr><th rowspan="2" scope="col">{escape(table.corner)}</th>{groups}</tr>',
             f"<tr>{labels}</tr>", "</thead>", "<tbody>"]
    for row in table.rows:
        cells = "".join(f'<td class="num">{render_cell(c, table, HTML)}</td>'
                        for c in row.cells)
        lines.append(f'<tr class="{escape(row.kind)}"><th scope="row">{escape(row.label)}'
                     f"{_sup(row.marks)}</th>{cells}</tr>")
    lines += ["</tbody>", "</table></div>"]
    if table.notes:
        lines.append('<ul class="notes">')
        lines += [f"<li>{_sup((n.mark,)) + ' ' if n.mark else ''}{escape(n.text)}</li>"
                  for n in table.notes]
        lines.append("</ul>")
    return "\n".join(lines)


def _figure(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(title)}"></figure>'


def _chart(table: Table, columns: Sequence[Column], title: str, unit: str,
           horizontal: bool = False) -> str:
    """A chart of some of a table's columns, one series per row that has a value there."""
    index = [table.columns.index(c) for c in columns]
    series: list[Series] = [
        (row.label + (" (subset)" if any(row.cells[i].subset for i in index) else ""),
         [row.cells[i].value for i in index], f"C{k % 10}") for k, row in enumerate(table.rows)]
    series = [s for s in series if any(v is not None for v in s[1])]
    return _figure(title, bar_chart(title, [c.label for c in columns], series, unit,
                                    horizontal))


def _family_charts(table: Table) -> list[str]:
    """One chart per column group; its axis says when the group's metrics are not
    higher-is-better (every column lower-is-better, or without direction)."""
    out = []
    for group, _ in table.groups():
        columns = [c for c in table.columns if c.group == group]
        found = re.search(r"\((.+)\)$", group)
        unit = found.group(1) if found else "value"
        ways = {c.better for c in columns}
        if ways in ({LOWER}, {NO_DIRECTION}):
            unit += ", lower is better" if ways == {LOWER} else ", no better direction"
        out.append(_chart(table, columns, group, unit))
    return out


def render_html(table: Table, runs: Sequence[RunResult]) -> str:
    """The whole page: leaderboard and per-family charts, then MME subtasks and MMBench
    categories (table and chart) when a run has them."""
    body = [f"<h1>{escape(table.title)}</h1>", '<section id="leaderboard">',
            "<h2>Leaderboard</h2>", render_table(table, "leaderboard-table"), "</section>",
            *render_provenance(table),
            '<section id="family-charts">', "<h2>Per family</h2>", *_family_charts(table),
            "</section>"]
    details = [("mme", mme_table(runs), "score (max 200)", False),
               ("mmbench", mmbench_table(runs), "circular accuracy (%)", True)]
    for anchor, detail, unit, horizontal in details:
        if detail is None:
            continue
        body += [f'<section id="{anchor}">', f"<h2>{escape(detail.title)}</h2>",
                 render_table(detail, f"{anchor}-table"),
                 _chart(detail, detail.columns, detail.title, unit, horizontal), "</section>"]
    head = ['<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(table.title)}</title>", f"<style>{STYLE}</style>"]
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", *head, "</head>",
                      "<body>", *body, "</body>", "</html>"]) + "\n"
