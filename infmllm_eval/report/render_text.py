"""Markdown and CSV renderings of a :class:`Table`."""

from __future__ import annotations

import pandas as pd

from infmllm_eval.report.table import Markup, Table, render_cell


def _md_escape(text: str) -> str:
    """Literal text in a table cell: a line break (\\n, \\r, U+2028 ...) in a name taken from
    a results file would end the row, so it becomes a space; '<' would open raw HTML."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
            .replace("<", "&lt;"))


def _sup(marks: tuple[str, ...]) -> str:
    return f"<sup>{','.join(marks)}</sup>" if marks else ""


MARKDOWN = Markup(escape=_md_escape, bold=lambda text: f"**{text}**",
                  delta=lambda text: f" ({text})", ci=lambda text: f" {text}", sup=_sup,
                  subset=lambda text: f" ({_md_escape(text)})")


def _code(text: str) -> str:
    """``text`` as an inline code span (one line; a span that holds a backtick gets two)."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def provenance_lines(table: Table) -> list[str]:
    """Where each run row comes from: results path, run id, date, samples, command."""
    if not table.provenance:
        return []
    lines = ["", "Runs:", ""]
    for p in table.provenance:
        lines.append(f"- {_md_escape(p.label)}: results {_code(p.source)}; run id "
                     f"{_code(p.run_id)}; date {_md_escape(p.date)}; samples: "
                     f"{_md_escape(p.samples)}; command: "
                     + (_code(p.command) if p.command != "unknown" else "unknown"))
    return lines


def render_markdown(table: Table) -> str:
    """A GitHub-flavoured table (header: ``family · column``) followed by the notes."""
    header = [_md_escape(table.corner)] + [
        f"{_md_escape(c.group)} · {_md_escape(c.label)}{_sup(c.marks)}" for c in table.columns]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|"]
    for row in table.rows:
        cells = [_md_escape(row.label) + _sup(row.marks)]
        cells += [render_cell(c, table, MARKDOWN) for c in row.cells]
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines += [f"- {_sup((n.mark,)) + ' ' if n.mark else ''}{_md_escape(n.text)}"
                  for n in table.notes]
    lines += provenance_lines(table)
    return "\n".join(lines) + "\n"


def table_frame(table: Table) -> pd.DataFrame:
    """One row per table row: label, kind, source, then per column its value, the samples
    behind it (``.n``), the task's full size (``.of``, when known), whether it is a subset,
    and its delta and interval bounds when the table shows them."""
    records = []
    for row in table.rows:
        record: dict[str, object] = {table.corner: row.label, "kind": row.kind,
                                     "source": row.source}
        for column, cell in zip(table.columns, row.cells, strict=True):
            record[column.key] = cell.value
            record[f"{column.key}.n"] = None if cell.n is None else str(cell.n)  # not 10.0000
            record[f"{column.key}.of"] = None if cell.of is None else str(cell.of)
            record[f"{column.key}.subset"] = cell.subset if row.kind == "run" else None
            if table.show_delta:
                record[f"{column.key}.delta"] = cell.delta
            if table.show_ci:
                record[f"{column.key}.ci_low"] = cell.ci[0] if cell.ci else None
                record[f"{column.key}.ci_high"] = cell.ci[1] if cell.ci else None
        records.append(record)
    frame: pd.DataFrame = pd.DataFrame.from_records(records)
    return frame


def render_csv(table: Table) -> str:
    """Machine-readable: column names are ``task.metric``; numbers to 4 decimals, absent
    values empty; footnotes are left to the other formats."""
    text: str = table_frame(table).to_csv(index=False, lineterminator="\n", float_format="%.4f")
    return text
