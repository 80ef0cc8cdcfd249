"""Output that survives pipes and logs (issue 28, items 1, 2 and 11): tab-separated rows and
--json when stdout is not a terminal, rich tables with uncut names on a terminal, plain
progress lines when stderr is not a terminal, and `data check` naming where data comes from."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.cards import task_cards
from infmllm_eval.errors import BadInputError
from infmllm_eval.ui import PlainProgress, progress_interval, tsv

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "infmllm_eval" / "toy" / "data"
DEMO = ROOT / "infmllm_eval" / "demo"
Cli = Callable[..., Any]


def piped(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in a fresh process, stdout and stderr pipes at 80 columns."""
    return subprocess.run([sys.executable, "-m", "infmllm_eval", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80",
                               **(env or {})})


def rows(text: str) -> list[list[str]]:
    """Tab-separated lines, each with as many cells as the header."""
    lines = [line.split("\t") for line in text.splitlines()]
    assert lines and all(len(cells) == len(lines[0]) for cells in lines), text
    return lines


def test_list_tasks_into_a_pipe_keeps_every_name_whole() -> None:
    """`list tasks | grep refcoco`: full names, one tab-separated row per card, no boxes."""
    res = piped("list", "tasks")
    assert res.returncode == 0, res.stderr
    table = rows(res.stdout)
    assert table[0][:2] == ["name", "family"]
    assert [r[0] for r in table[1:]] == list(task_cards())
    assert "refcocoplus_testA" in [r[0] for r in table[1:]]
    assert not set("┃│┏━…") & set(res.stdout)


def test_in_process_capture_is_not_a_terminal(cli: Cli) -> None:
    """The cli fixture's captured stdout is not a terminal: the plain rows there too; the
    --details cells that hold several lines are joined with '; '."""
    res = cli("list", "tasks", "--details")
    assert res.code == 0, res.err
    table = rows(res.out)
    assert table[0][-3:] == ["groups", "files (--file KEY=PATH)", "options (--option)"]
    vqa = next(r for r in table if r[0] == "vqav2_val")
    assert vqa[3] == "214,354" and "normalization=always" in vqa[-1]
    assert "questions: vqav2/" in vqa[-2] and "; images: coco/val2014" in vqa[-2]


def test_json_lists_have_stable_keys(cli: Cli) -> None:
    tasks = json.loads(cli("list", "tasks", "--json").out)
    assert [t["name"] for t in tasks] == list(task_cards())
    assert set(tasks[0]) == {"name", "family", "split", "size", "primary_metric", "data",
                             "groups", "files", "options", "description", "source"}
    vqa = next(t for t in tasks if t["name"] == "vqav2_val")
    assert vqa["size"] == 214354 and vqa["options"]["normalization"]["value"] == "always"
    models = json.loads(cli("list", "models", "--json").out)
    assert {"infmllm-tiny-toy", "scripted"} <= {m["name"] for m in models}
    assert all(set(m) == {"name", "adapter", "prompt_style", "description"} for m in models)
    plugins = json.loads(cli("list", "plugins", "--json").out)
    assert all(set(p) == {"kind", "name", "from"} for p in plugins)
    assert {"kind": "task family", "name": "vqa", "from": "built-in"} in plugins


def test_data_check_says_where_to_get_missing_data(cli: Cli, tmp_path: Path) -> None:
    args = ("data", "check", "--data-root", str(tmp_path), "--tasks", "refcoco_val")
    res = cli(*args)
    assert res.code == 2
    header, row = rows(res.out)
    assert header[-1] == "get it from" and row[-1] == "https://github.com/lichengunc/refer"
    assert row[1] == "INCOMPLETE" and f"refs: {tmp_path}/refcoco/refs(unc).p" in row[3]
    res = cli(*args, "--json")
    assert res.code == 2
    [record] = json.loads(res.out)
    assert set(record) == {"task", "ok", "data", "found", "missing", "problems", "samples",
                           "expected", "source", "missing_images"}
    assert record["ok"] is False and record["source"] == "https://github.com/lichengunc/refer"
    assert set(record["missing"]) == {"refs", "instances", "images"}
    assert record["expected"] == 10834 and record["samples"] is None


def test_every_builtin_task_card_names_a_source() -> None:
    assert all(card.source.strip() for card in task_cards().values())


def test_score_output_is_plain_and_the_path_is_one_line(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / ("m" * 120 + ".json")  # longer than any console width
    args = ("score", "--task", "vqav2_val", "--predictions",
            str(DEMO / "predictions" / "vqav2_val.jsonl"), "--data-root", str(DEMO / "data"))
    res = cli(*args, "--output", str(out))
    assert res.code == 0, res.err
    *table, wrote = res.out.splitlines()
    assert wrote == f"wrote {out}"
    header, row = rows("\n".join(table))
    assert header[:3] == ["task", "metric", "value"] and row[:2] == ["vqav2_val", "accuracy"]
    res = cli(*args, "--output", str(tmp_path / "again.json"), "--json")
    assert res.code == 0, res.err
    entry = json.loads(res.out)
    assert entry["primary_metric"] == "accuracy" and entry["n_scored"] == 24
    written = json.loads((tmp_path / "again.json").read_text())
    assert entry["metrics"] == written["metrics"] and entry["ci95"] == written["ci95"]
    assert f"wrote {tmp_path / 'again.json'}" in res.err


def test_run_into_a_log_prints_progress_lines_and_a_plain_summary(tmp_path: Path) -> None:
    """`run … > log 2>&1`: a line when the task starts, lines while it runs, one when it
    ends, then the summary as tab-separated rows."""
    res = piped("run", "--model", "scripted", "--model-option", "default=yes",
                "--model-option", "delay=0.05", "--batch-size", "1", "--tasks", "toy_vqa",
                "--limit", "20", "--data-root", str(TOY), "--output-dir", str(tmp_path),
                env={"INFMLLM_EVAL_PROGRESS_S": "0.1"})
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("progress: ")]
    assert lines[0] == "progress: task 1/1 toy_vqa: started, 0/20 done"
    assert lines[-1].startswith("progress: task 1/1 toy_vqa: finished, 20/20 done, ")
    # 20 calls of 0.05 s each: at least one line at the 0.1 s interval in between
    during = lines[1:-1]
    assert during and all("samples/s" in line and "ETA" in line for line in during)
    assert "\r" not in res.stderr and "\x1b" not in res.stderr
    table = rows(res.stdout.split("run directory:")[0].strip())
    assert table[0][0] == "task" and table[1][:2] == ["toy_vqa", "accuracy"]


def test_plain_progress_lines() -> None:
    stream = io.StringIO()
    progress = PlainProgress(2, interval=0, stream=stream)
    progress.start("a", 4, 1)  # one journaled by an earlier attempt
    progress.advance(2)
    progress.abort()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "progress: task 1/2 a: started, 1/4 done (1 journaled before)"
    assert lines[1].startswith("progress: task 1/2 a: 3/4 done, ") and "ETA" in lines[1]
    assert lines[2] == "progress: task 1/2 a: stopped, 3/4 done"


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_progress_interval_must_be_seconds(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("INFMLLM_EVAL_PROGRESS_S", value)
    with pytest.raises(BadInputError, match="INFMLLM_EVAL_PROGRESS_S"):
        progress_interval()
    monkeypatch.setenv("INFMLLM_EVAL_PROGRESS_S", "2.5")
    assert progress_interval() == 2.5
    monkeypatch.delenv("INFMLLM_EVAL_PROGRESS_S")
    assert progress_interval() == 30.0


def test_tsv_cells_stay_on_one_line() -> None:
    text = tsv([{"a": "x\ny", "b": "tab\there", "c": "\x1b[2J"}])
    assert text == "a\tb\tc\nx; y\ttab\\there\t\\x1b[2J\n"


def test_on_a_terminal_the_table_is_rich_and_names_are_whole() -> None:
    """stdout a terminal (a pty) 60 columns wide: a rich table, and no name is cut."""
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "infmllm_eval", "list", "tasks"],
                            stdout=sub, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "60",
                                 "TERM": "dumb"})
    os.close(sub)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode()
    assert "┃" in text or "│" in text
    for name in task_cards():
        assert f" {name} " in text, name


def test_a_reader_that_goes_away_is_not_a_failed_gate() -> None:
    """`… | true` closed stdout: Typer exited 1, the 'gate failed' code (found in review)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "infmllm_eval", "list", "tasks", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the command writes
    assert proc.wait(timeout=120) == 141
