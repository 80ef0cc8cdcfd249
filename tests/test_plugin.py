"""A plug-in distribution outside infmllm_eval/ (tests/plugin: its own package, found only by
its entry points) adds a family with new metrics, a loader, an adapter, a prompt style and
their cards; list, run, score, report, baseline and gate work end to end with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugin"
DATA = PLUGIN / "data"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in a fresh process with the plug-in on the path (entry points are
    read from its .dist-info folder, as for an installed package)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), str(ROOT)]),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "infmllm_eval", *args], capture_output=True,
                           text=True, env=env, cwd=cwd or ROOT, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plugin-runs")
    for name, bias in (("good", "0"), ("worse", "1")):
        res = cli("run", "--model", "word-counter", "--tasks", "word_count", "--data-root",
                  str(DATA), "--output-dir", str(out), "--run-name", name,
                  "--model-option", f"bias={bias}")
        assert res.returncode == 0, res.stderr
    return out


def test_list_shows_every_plugged_in_part() -> None:
    plugins = cli("list", "plugins")
    assert plugins.returncode == 0, plugins.stderr
    for kind, name in (("task family", "word_count"), ("loader", "sentences"),
                       ("adapter", "word_counter"), ("prompt style", "plain")):
        line = next(row for row in plugins.stdout.splitlines()  # tab-separated: a pipe
                    if name in row.split("\t"))
        assert kind in line and "entry point" in line
    assert "word_count" in cli("list", "tasks").stdout
    assert "word-counter" in cli("list", "models").stdout


def test_run_scores_with_the_plugin_family(runs: Path) -> None:
    good = json.loads((runs / "good" / "metrics.json").read_text())["tasks"]["word_count"]
    assert good["family"] == "word_count"
    assert good["metrics"] == {"exact": 100.0, "abs_error": 0.0, "answered": 100.0}
    worse = json.loads((runs / "worse" / "metrics.json").read_text())["tasks"]["word_count"]
    assert worse["metrics"] == {"exact": 0.0, "abs_error": 1.0, "answered": 100.0}


def test_score_reproduces_the_run(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    res = cli("score", "--task", "word_count", "--predictions",
              str(runs / "worse" / "predictions" / "word_count.jsonl"), "--data-root",
              str(DATA), "--output", str(out), "--option", "miss_error=100")
    assert res.returncode == 0, res.stderr
    scored = json.loads(out.read_text())
    assert scored["metrics"] == {"exact": 0.0, "abs_error": 1.0, "answered": 100.0}
    assert scored["variant"] == {"miss_error": "100"}


def test_report_has_the_plugin_task(runs: Path) -> None:
    res = cli("report", str(runs / "good"), str(runs / "worse"), "-f", "csv")
    assert res.returncode == 0, res.stderr
    header, *rows = res.stdout.strip().splitlines()
    assert "word_count" in header and len(rows) == 2


def test_gate_honours_the_plugin_metrics_directions(runs: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert cli("baseline", str(runs / "good"), "-o", str(base)).returncode == 0
    same = cli("gate", str(runs / "good"), "--baseline", str(base),
               "--metric", "word_count.abs_error=0.5")
    assert same.returncode == 0, same.stdout + same.stderr
    worse = cli("gate", str(runs / "worse"), "--baseline", str(base), "--max-drop", "200",
                "--metric", "word_count.abs_error=0.5")
    assert worse.returncode == 1, worse.stdout + worse.stderr
    failed = [line for line in worse.stdout.splitlines() if "fail" in line.lower()]
    assert any("abs_error" in line for line in failed), worse.stdout
    assert not any("word_count.exact" in line for line in failed), worse.stdout
    # the error fell back (the better way for a lower-is-better metric): it passes
    back = tmp_path / "worse.json"
    assert cli("baseline", str(runs / "worse"), "-o", str(back)).returncode == 0
    better = cli("gate", str(runs / "good"), "--baseline", str(back),
                 "--metric", "word_count.abs_error=0.5")
    assert better.returncode == 0, better.stdout + better.stderr


def test_plugin_card_with_an_unknown_primary_metric_is_refused(tmp_path: Path) -> None:
    cards = tmp_path / "cards" / "tasks"
    cards.mkdir(parents=True)
    text = (PLUGIN / "wordcount_plugin" / "cards" / "tasks" / "word_count.yaml").read_text()
    (cards / "word_count2.yaml").write_text(
        text.replace("name: word_count", "name: word_count2")
            .replace("primary_metric: exact", "primary_metric: exactt"))
    env = {"INFMLLM_EVAL_CARD_PATH": str(tmp_path / "cards")}
    res = subprocess.run([sys.executable, "-m", "infmllm_eval", "list", "tasks"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(
                             [str(PLUGIN), str(ROOT)])})
    assert res.returncode == 2
    assert "primary_metric" in res.stderr and "'exactt'" in res.stderr
    assert "Did you mean 'exact'" in res.stderr
