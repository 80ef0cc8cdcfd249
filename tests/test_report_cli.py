"""`report` end to end through main(): formats, output files, baselines, references, help
text on every command and option, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from infmllm_eval.cli_report import register
from tests.conftest import CliResult
from tests.test_report_fixtures import make_runs, tasks_a, use_report_commands, write_run
from tests.test_report_render import GOLDEN

Cli = Callable[..., CliResult]


@pytest.fixture
def rcli(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    use_report_commands(monkeypatch)
    monkeypatch.chdir(tmp_path)
    make_runs(Path("."))
    return cli


RUNS = ["infmllm-7b-20240101-000000", "tuned-20240102-000000"]
FULL = ["--reference", "infmllm-paper", "--baseline", RUNS[0], "--ci"]


def test_report_to_stdout_matches_the_snapshot(rcli: Cli) -> None:
    res = rcli("report", *RUNS, *FULL)
    assert res.code == 0, res.err
    assert res.out == (GOLDEN / "leaderboard.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, golden", [("t.tex", "leaderboard.tex"),
                                          ("t.csv", "leaderboard.csv")])
def test_report_format_follows_the_output_suffix(rcli: Cli, name: str, golden: str) -> None:
    res = rcli("report", *RUNS, *FULL, "--output", name)
    assert res.code == 0, res.err
    assert f"wrote {name}" in res.err
    assert Path(name).read_text(encoding="utf-8") == (GOLDEN / golden).read_text(encoding="utf-8")


def test_report_html_file(rcli: Cli) -> None:
    res = rcli("report", *RUNS, "-f", "html", "-o", "r.out", "--title", "My runs")
    assert res.code == 0, res.err
    page = Path("r.out").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<h1>My runs</h1>" in page


def test_baseline_may_be_a_reference_row_or_another_run(rcli: Cli) -> None:
    paper = rcli("report", RUNS[0], "--reference", "infmllm-paper",
                 "--baseline", "InfMLLM-7B (paper)")
    assert paper.code == 0, paper.err
    assert "61.25 (-0.08)" in paper.out  # okvqa_val: 61.25 against the paper's 61.33
    extra = rcli("report", RUNS[1], "--baseline", RUNS[0])
    assert extra.code == 0, extra.err
    assert "| infmllm-7b (baseline) |" in extra.out
    assert "| 72.00 (+4.00) (n=10 of 214,354) |" in extra.out  # subsets: nothing bold


@pytest.mark.parametrize("args, message", [
    (["report", "missing-run"], "results file not found: missing-run"),
    (["report", RUNS[0], "--reference", "nope"], "--reference nope: no such reference"),
    (["report", RUNS[0], "--baseline", "nobody"], "--baseline nobody: neither"),
    (["report", RUNS[0], "--format", "pdf"], "Invalid value for '--format'"),
])
def test_report_bad_input_exits_2(rcli: Cli, args: list[str], message: str) -> None:
    res = rcli(*args)
    assert res.code == 2
    assert message in res.err and "Traceback" not in res.err


def test_report_of_a_score_file_and_a_bad_reference_file(rcli: Cli) -> None:
    score = Path("preds.metrics.json")  # as `score` writes it
    score.write_text(json.dumps({"task": "vqav2_val", "predictions": "preds.jsonl",
                                 **tasks_a()["vqav2_val"]}))
    res = rcli("report", str(score))
    assert res.code == 0, res.err
    assert "| preds | 68.00 (n=10 of 214,354) |" in res.out
    Path("ref.json").write_text('{"name": "x", "description": "d", "models": [{"label": "L", '
                                '"source": "s", "results": [{"benchmark": "B", "split": "s", '
                                '"metric": "accuracy", "value": 1, "source": "s", '
                                '"task": "vqav3"}]}]}')
    bad = rcli("report", RUNS[0], "--reference", "ref.json")
    assert bad.code == 2 and "unknown task 'vqav3'" in bad.err


def test_every_command_and_option_has_help() -> None:
    app = typer.Typer()
    register(app)
    group = get_command(app)
    commands = group.commands
    assert set(commands) == {"report", "diff", "gate", "baseline"}
    for name, command in commands.items():
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name}"


def test_same_model_twice_gets_run_ids(rcli: Cli) -> None:
    write_run(Path("."), "again", "infmllm-7b", tasks_a())
    res = rcli("report", RUNS[0], "again")
    assert "| infmllm-7b (infmllm-7b-20240101-000000) |" in res.out
    assert "| infmllm-7b (again) |" in res.out


@pytest.mark.parametrize("command", ["report", "diff", "gate", "baseline"])
def test_help_output_names_every_option(rcli: Cli, command: str) -> None:
    res = rcli(command, "--help")
    assert res.code == 0 and "Usage" in res.out
    options = re.findall(r"^│ [* ]*(--[a-z-]+)(.*)│$", res.out, flags=re.M)
    assert len(options) >= 2
    for name, rest in options:
        rest = re.sub(r"^\s*(-[a-z],?)?\s*(<[^>]+>|[A-Z][A-Z.=_|]*)", "", rest)
        assert rest.strip(), f"option {name} of {command} has no help text"
