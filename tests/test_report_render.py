"""Leaderboard tables: golden snapshots of every format, LaTeX escaping, the table rules
(bold best, deltas, footnotes) and a self-contained HTML page.

Regenerate the snapshots after an intended change with ``UPDATE_GOLDEN=1 pytest
tests/test_report_render.py`` and review the diff.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.latex import escape_latex
from infmllm_eval.report.leaderboard import build_leaderboard
from infmllm_eval.report.reference import load_reference
from infmllm_eval.report.render import format_for, render_report
from infmllm_eval.report.runs import RunResult, load_runs
from tests.conftest import ROOT
from tests.test_report_fixtures import MODEL_B, make_runs

GOLDEN = ROOT / "tests" / "golden" / "reports"
PNG_DATA = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
SUFFIX = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}


def fixture_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[RunResult]:
    """Runs A and B, read through relative paths so the CSV 'source' column is stable."""
    monkeypatch.chdir(tmp_path)
    run_a, run_b = make_runs(Path("."))
    return load_runs([Path(run_a.name), Path(run_b.name)])


def normalized(fmt: str, text: str) -> str:
    """Chart bytes depend on matplotlib and its fonts: the snapshot keeps a placeholder."""
    return PNG_DATA.sub("data:image/png;base64,<PNG>", text) if fmt == "html" else text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "html"])
def test_golden_full_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    runs = fixture_runs(tmp_path, monkeypatch)
    text = render_report(runs, fmt, [load_reference("infmllm-paper")], baseline="infmllm-7b",
                         show_ci=True)
    check_golden(f"leaderboard.{SUFFIX[fmt]}", normalized(fmt, text))


@pytest.mark.parametrize("fmt", ["md", "latex"])
def test_golden_plain_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    text = render_report(fixture_runs(tmp_path, monkeypatch), fmt)
    check_golden(f"plain.{SUFFIX[fmt]}", text)


def test_latex_escapes_every_special_character() -> None:
    assert escape_latex(r"a_b%c&d#e$f{g}h~i^j\k") == (
        r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")
    assert escape_latex("<x>|[y]") == r"\textless{}x\textgreater{}\textbar{}{[}y{]}"


def test_names_with_specials_survive_latex(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_report(fixture_runs(tmp_path, monkeypatch), "latex")
    assert r"tuned\_50\%\&more & " in text
    assert MODEL_B not in text
    body = text.split(r"\toprule")[1].split(r"\bottomrule")[0]
    for line in body.splitlines():  # cells hold no special character outside a command
        for cell in re.split(r"(?<!\\) & ", line.removesuffix(r" \\")):
            bare = re.sub(r"\\[a-zA-Z]+|\\[_%&#${},]|[{}]|\$-\$", "", cell)
            assert not set(bare) & set("_%&#$^~\\"), cell


def test_columns_grouped_by_family_best_bold_and_deltas(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    runs = fixture_runs(tmp_path, monkeypatch)
    subsets = build_leaderboard(runs, [load_reference("infmllm-paper")], baseline="infmllm-7b")
    assert all(c.subset and not c.bold for r in subsets.rows[:2] for c in r.cells
               if c.value is not None)  # 10 of VQAv2's 214,354 questions: never ranked
    # as full runs (task cards that state no size), the runs are ranked
    monkeypatch.setattr("infmllm_eval.report.leaderboard.split_sizes", lambda tasks: {})
    table = build_leaderboard(runs, [load_reference("infmllm-paper")], baseline="infmllm-7b")
    assert [g for g, _ in table.groups()] == [
        "Captioning (CIDEr)", "VQA (accuracy)", "Grounding (Acc@0.5)", "MME (score)",
        "MMBench (circular accuracy)"]
    keys = [c.key for c in table.columns]
    assert keys.index("mme.perception") + 1 == keys.index("mme.cognition")
    rows = {r.label: dict(zip(keys, r.cells, strict=True)) for r in table.rows}
    assert list(rows) == ["infmllm-7b", MODEL_B, "InfMLLM-7B (paper)", "InfMLLM-7B-Chat (paper)"]
    vqa_a, vqa_b = rows["infmllm-7b"]["vqav2_val.accuracy"], rows[MODEL_B]["vqav2_val.accuracy"]
    assert (vqa_a.value, vqa_a.bold, vqa_a.delta) == (68.0, False, None)
    assert (vqa_b.value, vqa_b.bold, vqa_b.delta) == (72.0, True, 4.0)
    assert rows["InfMLLM-7B (paper)"]["refcoco_testA.acc@0.5"].bold  # 94.62 beats the runs
    assert rows["InfMLLM-7B-Chat (paper)"]["mme.perception"].value == 1490
    assert rows[MODEL_B]["coco_karpathy_test.CIDEr"].value is None
    assert rows["infmllm-7b"]["vqav2_testdev.accuracy"].text == "sub."


def test_mme_category_without_subtasks_gets_no_column() -> None:
    """A run that scored only perception subtasks (the toy MME) reports cognition 0, which
    is not a result: no cognition column; a run with a cognition subtask brings it back."""
    def mme(subtasks: dict[str, float]) -> dict[str, object]:
        cognition = sum(v for k, v in subtasks.items() if k == "code_reasoning")
        return {"family": "yes_no", "primary_metric": "perception",
                "metrics": {"perception": sum(subtasks.values()) - cognition,
                            "cognition": cognition},
                "breakdown": {"subtasks": {k: {"score": v} for k, v in subtasks.items()}}}

    toy = RunResult("toy", Path("toy"), "m", {"toy_mme": mme({"count": 150.0, "color": 160.0})})
    keys = [c.key for c in build_leaderboard([toy]).columns]
    assert keys == ["toy_mme.perception"]
    full = RunResult("full", Path("full"), "m",
                     {"toy_mme": mme({"count": 150.0, "code_reasoning": 70.0})})
    keys = [c.key for c in build_leaderboard([toy, full]).columns]
    assert keys == ["toy_mme.perception", "toy_mme.cognition"]


def test_variant_footnotes_on_headers_or_cells(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    table = build_leaderboard(fixture_runs(tmp_path, monkeypatch))
    notes = {n.mark: n.text for n in table.notes if n.mark}
    columns = {c.key: c for c in table.columns}
    (mark,) = columns["vqav2_val.accuracy"].marks  # both runs: the same variant
    assert notes[mark] == "scoring variant: normalization=always"
    assert columns["okvqa_val.accuracy"].marks == ()  # the runs differ: per cell
    cells = [r.cells[table.columns.index(columns["okvqa_val.accuracy"])] for r in table.rows]
    assert [notes[m] for c in cells for m in c.marks] == [
        "scoring variant: normalization=always", "scoring variant: normalization=evalai"]


def test_unknown_baseline_and_empty_reports_are_bad_input(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    runs = fixture_runs(tmp_path, monkeypatch)
    with pytest.raises(BadInputError, match="not a row of the table"):
        build_leaderboard(runs, baseline="nobody")
    only_submission = [RunResult("x", Path("x"), None, {"vqav2_testdev": {
        "submission": "s.json", "n_samples": 1, "n_missing": 0, "variant": {}}})]
    with pytest.raises(BadInputError, match="nothing to report"):
        render_report(only_submission, "md")


def test_format_from_option_or_suffix() -> None:
    assert format_for(None, Path("t.tex")) == "latex"
    assert format_for(None, Path("t.HTML")) == "html"
    assert format_for(None, None) == "md"
    assert format_for("csv", Path("t.tex")) == "csv"
    with pytest.raises(BadInputError, match="choose one of"):
        format_for("pdf", None)


def test_html_is_self_contained_with_every_table_and_chart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = render_report(fixture_runs(tmp_path, monkeypatch), "html",
                         [load_reference("infmllm-paper")])
    assert not re.search(r"https?:|//|<script|<link|@import|url\(", PNG_DATA.sub("", page), re.I)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert re.findall(r'<table id="([^"]+)"', page) == [
        "leaderboard-table", "runs-table", "mme-table", "mmbench-table"]
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in images] == [
        "Captioning (CIDEr)", "VQA (accuracy)", "Grounding (Acc@0.5)", "MME (score)",
        "MMBench (circular accuracy)", "MME subtasks", "MMBench categories"]
    for data, _ in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
