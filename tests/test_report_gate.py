"""`gate` and `baseline`: pass, fail by tolerance, fail by significance, missing metric
(exit 2), incomparable runs, tolerances from the baseline file, and the JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.gate import baseline_document, parse_tolerances, run_gate
from infmllm_eval.report.runs import load_run
from tests.conftest import CliResult
from tests.test_report_fixtures import entry, mme_entry, use_report_commands, write_run

Cli = Callable[..., CliResult]
N = 2000
VQA_VARIANT = {"normalization": "always"}


@pytest.fixture
def rcli(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    use_report_commands(monkeypatch)
    return cli


def vqa(wrong: int) -> dict[str, Any]:
    """vqav2_val over N samples: 1,200 right, then ``wrong`` of those turned wrong."""
    scores = [100.0] * 1200 + [0.0] * (N - 1200)
    for i in range(wrong):
        scores[i] = 0.0
    return entry("vqa", "accuracy", scores, variant=VQA_VARIANT)


def run_with(tmp_path: Path, name: str, wrong: int, mme_scale: float = 1.0) -> Path:
    return write_run(tmp_path, name, "m", {"vqav2_val": vqa(wrong), "mme": mme_entry(mme_scale)})


@pytest.fixture
def baseline_file(rcli: Cli, tmp_path: Path) -> Path:
    """A baseline written by the `baseline` command from a run with 60% accuracy."""
    path = tmp_path / "baselines" / "ci.json"
    res = rcli("baseline", str(run_with(tmp_path, "base", 0)), "--output", str(path),
               "--metric", "mme.cognition=30")
    assert res.code == 0, res.err
    return path


def test_baseline_file_format(baseline_file: Path) -> None:
    data = json.loads(baseline_file.read_text())
    assert data["format"] == "infmllm-eval-baseline" and data["version"] == 1
    assert data["tolerances"] == {"mme.cognition": 30.0}
    vqa_entry = data["tasks"]["vqav2_val"]
    assert vqa_entry["metrics"]["accuracy"] == 60.0
    assert vqa_entry["variant"] == VQA_VARIANT and vqa_entry["n_samples"] == N
    assert set(vqa_entry["per_sample"][0]) == {"id", "score"}  # predictions left out
    assert load_run(baseline_file).label == "baseline m"


def test_gate_passes_on_an_equal_run(rcli: Cli, tmp_path: Path, baseline_file: Path) -> None:
    junit = tmp_path / "gate.xml"
    res = rcli("gate", "--baseline", str(baseline_file), str(run_with(tmp_path, "same", 0)),
               "--significance", "0.05", "--junit", str(junit))
    assert res.code == 0, res.err
    assert "gate passed: 3 checks" in res.out
    for name in ("vqav2_val.accuracy", "mme.perception", "mme.cognition"):
        assert name in res.out
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuites" and suite.get("tests") == "3"
    assert suite.get("failures") == "0"


def test_gate_fails_by_tolerance(rcli: Cli, tmp_path: Path, baseline_file: Path) -> None:
    run = run_with(tmp_path, "worse", 40)  # 60.00 -> 58.00: a 2-point drop
    junit = tmp_path / "gate.xml"
    res = rcli("gate", "--baseline", str(baseline_file), str(run), "--junit", str(junit))
    assert res.code == 1
    assert "FAIL" in res.out and "drop 2.00 > tolerance 1.00" in res.out
    assert "gate failed: 1 of 3 checks" in res.err
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "1"
    (failure,) = root.iter("failure")
    assert failure.get("message") == "drop 2.00 > tolerance 1.00"
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    assert (case.get("classname"), case.get("name")) == ("gate.vqav2_val", "accuracy")
    loose = rcli("gate", "--baseline", str(baseline_file), str(run), "--max-drop", "2.5")
    assert loose.code == 0
    per_metric = rcli("gate", "--baseline", str(baseline_file), str(run),
                      "--metric", "vqav2_val.accuracy=3")
    assert per_metric.code == 0


def test_gate_uses_the_baseline_tolerances(tmp_path: Path, baseline_file: Path) -> None:
    slightly = run_with(tmp_path, "mme-lower", 0, mme_scale=0.97)  # cognition -22, perception -40
    result = run_gate(load_run(baseline_file), load_run(slightly), max_drop=1.0)
    verdicts = {c.name: c.failed for c in result.checks}
    assert verdicts == {"vqav2_val.accuracy": False, "mme.perception": True,
                        "mme.cognition": False}  # 30 points tolerated by the baseline file
    overridden = run_gate(load_run(baseline_file), load_run(slightly), 1.0,
                          parse_tolerances(["mme.perception=50", "mme.cognition=10"]))
    assert {c.name: c.failed for c in overridden.checks}["mme.perception"] is False
    assert {c.name: c.failed for c in overridden.checks}["mme.cognition"] is True


def test_gate_fails_by_significance(rcli: Cli, tmp_path: Path, baseline_file: Path) -> None:
    run = run_with(tmp_path, "slightly-worse", 10)  # -0.5 points, every change a loss
    within = rcli("gate", "--baseline", str(baseline_file), str(run))
    assert within.code == 0 and "drop 0.50 within tolerance 1.00" in within.out
    strict = rcli("gate", "--baseline", str(baseline_file), str(run), "--significance", "0.05")
    assert strict.code == 1
    assert "significant drop: p = " in strict.out
    result = run_gate(load_run(baseline_file), load_run(run), alpha=0.05)
    check = result.checks[0]
    assert check.name == "vqav2_val.accuracy" and check.failed
    assert check.p_value is not None and check.p_value < 0.05
    noise = run_gate(load_run(baseline_file), load_run(run_with(tmp_path, "noise", 1)),
                     alpha=0.05)
    assert not noise.failed  # one changed sample of 2,000 is not significant
    assert noise.checks[0].p_value is not None and noise.checks[0].p_value > 0.05


def test_gate_missing_metric_is_bad_input(rcli: Cli, tmp_path: Path,
                                          baseline_file: Path) -> None:
    no_mme = write_run(tmp_path, "no-mme", "m", {"vqav2_val": vqa(0)})
    res = rcli("gate", "--baseline", str(baseline_file), str(no_mme))
    assert res.code == 2
    assert "no result for mme.perception, mme.cognition" in res.err
    assert "Traceback" not in res.err and len(res.err.strip().splitlines()) <= 2
    unknown = rcli("gate", "--baseline", str(baseline_file), str(run_with(tmp_path, "r", 0)),
                   "--metric", "vqav2_val.accuracy_yes/no=1")
    assert unknown.code == 2 and "the baseline has no value for" in unknown.err


@pytest.mark.parametrize("args, message", [
    (["--metric", "vqav2_val.accuracy"], "expected TASK.METRIC=POINTS"),
    (["--metric", "accuracy=1"], "expected TASK.METRIC"),
    (["--metric", "vqav2_val.accuracy=-1"], "POINTS >= 0"),
])
def test_gate_bad_options(rcli: Cli, tmp_path: Path, baseline_file: Path, args: list[str],
                          message: str) -> None:
    res = rcli("gate", "--baseline", str(baseline_file), str(run_with(tmp_path, "r", 0)), *args)
    assert res.code == 2 and message in res.err


def test_gate_refuses_incomparable_runs(tmp_path: Path, baseline_file: Path) -> None:
    base = load_run(baseline_file)
    other = entry("vqa", "accuracy", [100.0] * N, variant={"normalization": "evalai"})
    with pytest.raises(BadInputError, match="different variant"):
        run_gate(base, load_run(write_run(tmp_path, "v", "m",
                                          {"vqav2_val": other, "mme": mme_entry(1.0)})))
    shorter = entry("vqa", "accuracy", [100.0] * 50, variant=VQA_VARIANT)
    with pytest.raises(BadInputError, match="n_samples differs"):
        run_gate(base, load_run(write_run(tmp_path, "s", "m",
                                          {"vqav2_val": shorter, "mme": mme_entry(1.0)})))


def test_a_run_directory_serves_as_baseline(tmp_path: Path) -> None:
    result = run_gate(load_run(run_with(tmp_path, "a", 0)), load_run(run_with(tmp_path, "b", 0)))
    assert [c.name for c in result.checks] == ["vqav2_val.accuracy", "mme.perception"]
    assert not result.failed


def test_baseline_of_a_run_without_scores_or_with_unknown_metric(tmp_path: Path) -> None:
    only_sub = write_run(tmp_path, "sub", "m", {"vqav2_testdev": {
        "submission": "s.json", "n_samples": 1, "n_missing": 0, "variant": {}}})
    with pytest.raises(BadInputError, match="no scored task"):
        baseline_document(load_run(only_sub))
    with pytest.raises(BadInputError, match="has no value for it"):
        baseline_document(load_run(run_with(tmp_path, "r", 0)), {"mme.nothing": 1.0})
    lean = baseline_document(load_run(run_with(tmp_path, "r2", 0)), per_sample=False)
    assert "per_sample" not in lean["tasks"]["vqav2_val"]
