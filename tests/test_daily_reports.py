"""Issue 28, daily use of reports: subsets (a --limit run, a partial run, a small data file)
are marked n of N and never ranked against full results; Markdown and HTML name each run's
id, date, samples and command; `report -o` refuses a format it cannot write; `gate` and
`baseline` leave out tasks or metrics with --untrack."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.gate import baseline_document, run_gate
from infmllm_eval.report.leaderboard import build_leaderboard
from infmllm_eval.report.provenance import command_line, coverage
from infmllm_eval.report.reference import load_reference
from infmllm_eval.report.render import format_for, render_report
from infmllm_eval.report.runs import load_run, load_runs
from tests.conftest import CliResult
from tests.test_report_fixtures import entry, mme_entry, use_report_commands, write_run

Cli = Callable[..., CliResult]
GQA = "gqa_testdev_balanced"  # its card: 12,578 questions


@pytest.fixture
def rcli(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    use_report_commands(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return cli


def gqa(right: int, total: int, partial_of: int | None = None) -> dict[str, Any]:
    """A gqa entry of ``total`` scored samples; ``partial_of``: a partial run of that many."""
    found = entry("gqa", "accuracy", [100.0] * right + [0.0] * (total - right))
    if partial_of is not None:
        found.update(partial=True, n_samples=partial_of, n_missing=partial_of - total)
    return found


def run_dir(root: Path, name: str, tasks: dict[str, Any], **config: Any) -> Path:
    """A run directory whose run.json has a date and the given config values."""
    path = write_run(root, name, name, tasks)
    info = json.loads((path / "run.json").read_text())
    info["created"] = "2026-12-01T10:00:00+00:00"
    info["config"].update(config)
    (path / "run.json").write_text(json.dumps(info))
    return path


def cells(table: Any, key: str) -> dict[str, Any]:
    index = [c.key for c in table.columns].index(key)
    return {row.label: row.cells[index] for row in table.rows}


def test_a_subset_is_never_bold_and_takes_no_bold_away(tmp_path: Path) -> None:
    """The 12-question demo (100%) and a 10-sample run sit next to the paper's rows: the
    paper's best stays bold, the subsets are marked n of N."""
    demo = run_dir(tmp_path, "demo", {GQA: gqa(12, 12)})
    limited = run_dir(tmp_path, "limited", {GQA: gqa(9, 10)}, limit=10)
    table = build_leaderboard(load_runs([demo, limited]), [load_reference("infmllm-paper")])
    found = cells(table, f"{GQA}.accuracy")
    assert (found["demo"].value, found["demo"].bold, found["demo"].subset) == (100.0, False, True)
    assert found["limited"].bold is False
    assert found["InfMLLM-7B-Chat (paper)"].bold  # 65.10, below both subsets
    assert not found["InfMLLM-7B (paper)"].bold  # 63.15
    text = render_report(load_runs([demo, limited]), "md", [load_reference("infmllm-paper")])
    assert "| demo | 100.00 (n=12 of 12,578) |" in text
    assert "| limited | 90.00 (n=10 of 12,578) |" in text
    assert "**65.10**" in text and "**100.00**" not in text and "**90.00**" not in text
    assert "never bold and never ranked" in text


def test_full_runs_are_still_ranked_among_themselves(tmp_path: Path) -> None:
    """A task without a card size is taken as full: its best run is bold."""
    a = run_dir(tmp_path, "a", {"mine": entry("vqa", "accuracy", [100.0, 0.0])})
    b = run_dir(tmp_path, "b", {"mine": entry("vqa", "accuracy", [100.0, 100.0])})
    found = cells(build_leaderboard(load_runs([a, b])), "mine.accuracy")
    assert (found["a"].bold, found["b"].bold) == (False, True)
    assert not found["b"].subset and found["b"].n == 2 and found["b"].of is None


def test_a_limit_run_without_a_card_size_is_still_a_subset(tmp_path: Path) -> None:
    a = run_dir(tmp_path, "a", {"mine": entry("vqa", "accuracy", [100.0, 0.0])}, limit=2)
    b = run_dir(tmp_path, "b", {"mine": entry("vqa", "accuracy", [0.0, 0.0, 0.0])})
    found = cells(build_leaderboard(load_runs([a, b])), "mine.accuracy")
    assert found["a"].subset and found["a"].coverage() == "n=2, --limit"
    assert not found["a"].bold and not found["b"].bold  # one full value: nothing to rank


def test_coverage_of_partial_full_and_limited_entries() -> None:
    assert coverage(gqa(3, 4, partial_of=10), None, None) == (4, 10, True)
    assert coverage(gqa(3, 4, partial_of=10), 12578, None) == (4, 12578, True)
    full = gqa(3, 4)
    assert coverage(full, 4, None) == (4, 4, False)
    assert coverage(full, None, 4) == (4, None, True)
    assert coverage(full, None, 10) == (4, None, False)  # the limit cut nothing
    assert coverage({"metrics": {}}, 10, None) == (None, None, False)


def test_markdown_and_html_name_run_date_samples_and_command(tmp_path: Path) -> None:
    path = run_dir(tmp_path, "r1", {GQA: gqa(3, 4), "mme": mme_entry(1.0)}, limit=4,
                   data_root="/data/x y", options={"match": "official"}, batch_size=16)
    runs = load_runs([path])
    command = ("infmllm-eval run --model r1 --tasks gqa_testdev_balanced,mme --data-root "
               "'/data/x y' --batch-size 16 --limit 4 --option match=official")
    markdown = render_report(runs, "md")
    runs_part = markdown.split("\nRuns:\n")[1]
    for part in ("run id `r1`", "date 2026-12-01T10:00:00+00:00",
                 "samples: gqa_testdev_balanced 4 of 12,578, mme 4 of 2,374",
                 f"command: `{command}`", f"results `{path}`"):
        assert part in runs_part, part
    page = render_report(runs, "html")
    section = page.split('<section id="runs">')[1].split("</section>")[0]
    assert "<td>r1</td>" in section and "2026-12-01T10:00:00+00:00" in section
    assert f"<code>{command.replace(chr(39), '&#x27;')}</code>" in section
    assert "(n=4 of 12,578)" in page


def test_html_detail_tables_do_not_rank_subsets(tmp_path: Path) -> None:
    big = run_dir(tmp_path, "big", {"mme": mme_entry(1.5)})
    small = run_dir(tmp_path, "small", {"mme": mme_entry(1.0)})
    page = render_report(load_runs([big, small]), "html")
    mme = page.split('<section id="mme">')[1].split("</section>")[0]
    assert "<strong>" not in mme and "big (n=4 of 2,374)" in mme


def test_command_line_from_config() -> None:
    assert command_line({"tasks": ["a"]}) == ""
    assert command_line({"model": "m", "tasks": ["a", "b"], "batch_size": 8, "seed": 0,
                         "limit": None, "generation": {"num_beams": "1"}, "options": {},
                         "on_image_error": "skip"}) == (
        "infmllm-eval run --model m --tasks a,b --generation num_beams=1 "
        "--on-image-error skip")


@pytest.mark.parametrize("content", ["{not json", "[1]", '{"config": 3}'])
def test_a_damaged_run_json_leaves_the_provenance_unknown(tmp_path: Path, content: str) -> None:
    path = run_dir(tmp_path, "r", {GQA: gqa(1, 2)})
    (path / "run.json").write_text(content)
    text = render_report([load_run(path)], "md")
    assert "run id `r`; date unknown;" in text and "command: unknown" in text


def test_csv_has_sample_counts(tmp_path: Path) -> None:
    path = run_dir(tmp_path, "r", {GQA: gqa(1, 2)})
    header, row = render_report([load_run(path)], "csv").splitlines()
    assert header.endswith(f"{GQA}.accuracy,{GQA}.accuracy.n,{GQA}.accuracy.of,"
                           f"{GQA}.accuracy.subset")
    assert row.endswith("50.0000,2,12578,True")


@pytest.mark.parametrize("name", ["out.xlsx", "out.XLS", "out.ods"])
def test_report_refuses_a_spreadsheet(rcli: Cli, name: str) -> None:
    run_dir(Path("."), "r", {GQA: gqa(1, 2)})
    for extra in ([], ["-f", "csv"]):
        res = rcli("report", "r", "-o", name, *extra)
        assert res.code == 2 and "write CSV instead" in res.err and "out.csv" in res.err
        assert len(res.err.strip().splitlines()) == 1 and not Path(name).exists()


def test_report_refuses_an_unknown_extension_without_format(rcli: Cli) -> None:
    run_dir(Path("."), "r", {GQA: gqa(1, 2)})
    res = rcli("report", "r", "-o", "out.pdf")
    assert res.code == 2 and "unknown extension '.pdf'" in res.err and "--format" in res.err
    assert not Path("out.pdf").exists()
    chosen = rcli("report", "r", "-o", "out.txt", "-f", "md")
    assert chosen.code == 0 and Path("out.txt").read_text().startswith("| model |")
    bare = rcli("report", "r", "-o", "README")
    assert bare.code == 0 and Path("README").read_text().startswith("| model |")
    assert format_for(None, Path("t.markdown")) == "md"
    with pytest.raises(BadInputError, match="spreadsheets are not written"):
        format_for("md", Path("t.xlsx"))


def two_runs(root: Path, drop: float = 0.0) -> tuple[Path, Path]:
    """Run and a later run whose MME perception drops by ``drop`` points per subtask."""
    vqa = entry("vqa", "accuracy", [100.0, 0.0, 100.0, 100.0])
    return (write_run(root, "base", "m", {"vqav2_val": vqa, "mme": mme_entry(1.0)}),
            write_run(root, "new", "m", {"vqav2_val": vqa, "mme": mme_entry(1.0 - drop)}))


def test_gate_untracks_a_task_or_a_metric(tmp_path: Path) -> None:
    base, new = (load_run(p) for p in two_runs(tmp_path, drop=0.1))
    assert run_gate(base, new).failed  # mme.perception drops
    for item in ("mme", "mme.perception"):
        result = run_gate(base, new, untracked=[item])
        assert [c.name for c in result.checks] == ["vqav2_val.accuracy"] and not result.failed
    with pytest.raises(BadInputError, match="no tracked metric"):
        run_gate(base, new, untracked=["mme", "vqav2_val"])


@pytest.mark.parametrize("item, message", [
    ("mmee", "tracks no such task or metric.*Did you mean 'mme'"),
    ("mme.cognition", "tracks no such task or metric.*Did you mean 'mme.perception'"),
    ("mme.", "expected TASK or TASK.METRIC"),
    ("vqav2_val.accuracy", "also given with --metric"),
])
def test_an_untrack_that_tracks_nothing_is_refused(tmp_path: Path, item: str,
                                                   message: str) -> None:
    base, new = (load_run(p) for p in two_runs(tmp_path))
    with pytest.raises(BadInputError, match=message):
        run_gate(base, new, tolerances={"vqav2_val.accuracy": 1.0}, untracked=[item])
    with pytest.raises(BadInputError, match=message):
        baseline_document(base, {"vqav2_val.accuracy": 1.0}, untracked=[item])


def test_baseline_untrack_leaves_out_a_task_or_lists_a_metric(tmp_path: Path) -> None:
    run = load_run(two_runs(tmp_path)[0])
    without = baseline_document(run, untracked=["vqav2_val"])
    assert list(without["tasks"]) == ["mme"] and "untracked" not in without
    kept = baseline_document(run, {"mme.cognition": 5.0}, untracked=["mme.perception"])
    assert kept["untracked"] == ["mme.perception"] and set(kept["tasks"]) == {"vqav2_val",
                                                                              "mme"}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(kept))
    checks = run_gate(load_run(path), run).checks
    assert [c.name for c in checks] == ["vqav2_val.accuracy", "mme.cognition"]


def test_gate_and_baseline_untrack_on_the_command_line(rcli: Cli) -> None:
    two_runs(Path("."), drop=0.1)
    assert rcli("gate", "new", "--baseline", "base").code == 1
    passed = rcli("gate", "new", "--baseline", "base", "--untrack", "mme")
    assert passed.code == 0 and "gate passed: 1 checks" in passed.out
    wrong = rcli("gate", "new", "--baseline", "base", "--untrack", "vqa")
    assert wrong.code == 2 and "Did you mean 'vqav2_val'" in wrong.err
    made = rcli("baseline", "base", "-o", "b.json", "--untrack", "mme")
    assert made.code == 0 and "1 task(s)" in made.err
    assert rcli("gate", "new", "--baseline", "b.json").code == 0
    help_text = re.sub(r"\s+", " ", rcli("gate", "--help").out)
    assert "--untrack" in help_text
