"""LaTeX rendering of a :class:`Table`: a ``table`` float with booktabs rules, one
``\\multicolumn`` header per family and the notes below, ready to ``\\input`` (the preamble
needs ``\\usepackage{booktabs}`` and ``\\usepackage{graphicx}``: a table wider than the text
is scaled down to fit). Every text is escaped, so names with ``_ % & # $`` survive.
"""

from __future__ import annotations

from infmllm_eval.report.table import Markup, Table, render_cell

_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "[": "{[}", "]": "{]}",
    "–": "--", "—": "---", "…": r"\ldots{}", "\n": " ",
}
_TABLE = str.maketrans(_ESCAPES)


def escape_latex(text: str) -> str:
    """Text as LaTeX typesets it literally (one pass, so escapes are never re-escaped)."""
    return text.translate(_TABLE)


def _signed(text: str) -> str:
    return text.replace("-", "$-$", 1) if text.startswith("-") else text


def _sup(marks: tuple[str, ...]) -> str:
    return rf"\textsuperscript{{{','.join(marks)}}}" if marks else ""


LATEX = Markup(escape=escape_latex, bold=lambda text: rf"\textbf{{{text}}}",
               delta=lambda text: rf"\,{{\scriptsize({_signed(text)})}}",
               ci=lambda text: rf"\,{{\scriptsize{escape_latex(text)}}}", sup=_sup,
               subset=lambda text: rf"\,{{\scriptsize({escape_latex(text)})}}")


def _header(table: Table) -> list[str]:
    spans, rules, start = [], [], 2
    for group, width in table.groups():
        spans.append(rf"\multicolumn{{{width}}}{{c}}{{{escape_latex(group)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    labels = [escape_latex(c.label) + _sup(c.marks) for c in table.columns]
    return [" & " + " & ".join(spans) + r" \\", " ".join(rules),
            escape_latex(table.corner) + " & " + " & ".join(labels) + r" \\", r"\midrule"]


def render_latex(table: Table) -> str:
    """The float: tabular (runs, a rule, published rows) and a footnote paragraph."""
    lines = [r"% infmllm-eval report: needs \usepackage{booktabs} and \usepackage{graphicx}",
             r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule"]
    lines += _header(table)
    previous = None
    for row in table.rows:
        if previous is not None and row.kind != previous:
            lines.append(r"\midrule")
        previous = row.kind
        cells = [escape_latex(row.label) + _sup(row.marks)]
        cells += [render_cell(c, table, LATEX) for c in row.cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if table.notes:
        lines += [r"\par\smallskip", r"{\footnotesize\raggedright"]
        lines += [(_sup((n.mark,)) + "~" if n.mark else "") + escape_latex(n.text) + r"\par"
                  for n in table.notes]
        lines.append("}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
