"""`diff`: fixed / broken samples between two runs and the paired bootstrap of the primary
metric's difference; the unit rebuilding it relies on (samples, CircularEval questions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from infmllm_eval.errors import BadInputError
from infmllm_eval.report.diff import diff_runs
from infmllm_eval.report.runs import load_run
from infmllm_eval.report.stats import RESAMPLES, Units, paired_bootstrap, primary_units
from tests.conftest import CliResult
from tests.test_report_fixtures import (
    entry,
    make_runs,
    mme_entry,
    tasks_a,
    use_report_commands,
    write_run,
)

Cli = Callable[..., CliResult]


@pytest.fixture
def rcli(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    use_report_commands(monkeypatch)
    return cli


def units(scores: list[float], ids: list[str] | None = None) -> Units:
    keys = ids or [str(i) for i in range(len(scores))]
    return Units(tuple(keys), tuple(float(s) for s in scores), "sample")


def test_units_are_samples_or_circular_questions_and_only_when_they_give_the_metric() -> None:
    vqa = primary_units(tasks_a()["vqav2_val"])
    assert vqa is not None and vqa.kind == "sample" and len(vqa.ids) == 10
    assert sum(vqa.scores) / 10 == 68.0
    mmb = primary_units(tasks_a()["mmbench_dev_en"])  # 12 rows, 3 questions, 2 all right
    assert mmb is not None and mmb.kind == "question"
    assert mmb.ids == ("0", "1", "2") and mmb.scores == (100.0, 0.0, 100.0)
    assert primary_units(mme_entry(1.0)) is None  # perception is a sum, not a mean
    no_rows = dict(tasks_a()["vqav2_val"], per_sample=[])
    assert primary_units(no_rows) is None


def test_paired_bootstrap_identical_runs_have_no_difference() -> None:
    result = paired_bootstrap(units([100, 0, 30, 100]), units([100, 0, 30, 100]))
    assert result is not None
    assert (result.delta, result.ci95, result.p_value) == (0.0, (0.0, 0.0), 1.0)


def test_paired_bootstrap_a_uniform_gain_is_as_significant_as_resampling_can_tell() -> None:
    result = paired_bootstrap(units([0] * 50), units([100] * 50))
    assert result is not None and result.delta == 100.0
    assert result.p_value == pytest.approx(1 / (RESAMPLES + 1))


def test_paired_bootstrap_pairs_by_id_and_matches_a_direct_resampling() -> None:
    rng = np.random.default_rng(7)
    a_scores = rng.choice([0.0, 30.0, 60.0, 100.0], size=400).tolist()
    b_scores = [min(100.0, s + (30.0 if i % 7 == 0 else 0.0)) for i, s in enumerate(a_scores)]
    ids = [f"q{i}" for i in range(400)]
    extra_a = units([*a_scores, 100.0], [*ids, "only-a"])
    result = paired_bootstrap(extra_a, units(b_scores[::-1], ids[::-1]))
    assert result is not None and result.n == 400
    diffs = np.array(b_scores) - np.array(a_scores)
    assert result.delta == pytest.approx(diffs.mean())
    direct = diffs[np.random.default_rng(1).integers(0, 400, size=(4000, 400))].mean(axis=1)
    low, high = np.quantile(direct, [0.025, 0.975])
    assert result.ci95 is not None
    assert result.ci95[0] == pytest.approx(low, abs=0.5)
    assert result.ci95[1] == pytest.approx(high, abs=0.5)
    assert result.p_value is not None and result.p_value < 0.001


def test_paired_bootstrap_of_continuous_scores_uses_index_resampling() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(100, 20, size=5000)
    b = a + rng.normal(0.0, 5.0, size=5000)  # no true difference
    result = paired_bootstrap(units(a.tolist()), units(b.tolist()))
    assert result is not None and result.ci95 is not None and result.p_value is not None
    assert result.ci95[0] < result.delta < result.ci95[1]
    assert result.ci95[0] < 0.3 and result.ci95[1] > -0.3 and result.p_value > 0.01
    assert paired_bootstrap(units([1.0]), units([2.0], ["x"])) is None  # nothing in common


def test_fixed_and_broken_samples(tmp_path: Path) -> None:
    run_a, run_b = make_runs(tmp_path)
    diffs = {d.task: d for d in diff_runs(load_run(run_a), load_run(run_b))}
    assert list(diffs) == ["vqav2_val", "okvqa_val", "gqa_testdev_balanced", "refcoco_testA",
                           "mme", "mmbench_dev_en"]  # captions: only in A
    vqa = diffs["vqav2_val"]
    assert [(c.id, c.score_a, c.score_b) for c in vqa.fixed] == [("3", 60, 100), ("8", 0, 100)]
    assert [(c.id, c.score_a, c.score_b) for c in vqa.broken] == [("9", 100, 0)]
    assert vqa.paired is not None and vqa.paired.delta == pytest.approx(4.0)
    assert vqa.value_b - vqa.value_a == pytest.approx(vqa.paired.delta)
    assert diffs["okvqa_val"].notes == (
        "scoring variants differ: A normalization=always; B normalization=evalai",)
    assert diffs["mme"].paired is None and "no paired test" in diffs["mme"].notes[0]
    assert diffs["mmbench_dev_en"].units == "question"


def test_diff_command_prints_summary_and_writes_json(rcli: Cli, tmp_path: Path) -> None:
    run_a, run_b = make_runs(tmp_path)
    out = tmp_path / "diff.json"
    res = rcli("diff", str(run_a), str(run_b), "--task", "vqav2_val", "--output", str(out))
    assert res.code == 0, res.err
    assert "vqav2_val" in res.out and "+4.00" in res.out
    assert "fixed (2 of 2)" in res.out and "broken (1 of 1)" in res.out
    data = json.loads(out.read_text())
    (task,) = data["tasks"]
    assert task["task"] == "vqav2_val" and len(task["fixed"]) == 2
    assert task["paired"]["p_value"] is not None


def test_diff_bad_input_exits_2(rcli: Cli, tmp_path: Path) -> None:
    run_a, run_b = make_runs(tmp_path)
    res = rcli("diff", str(run_a), str(run_b), "--task", "coco_karpathy_test")
    assert res.code == 2 and "has no scored result for it" in res.err
    assert "Traceback" not in res.err
    other = write_run(tmp_path, "other", "m", {"textvqa_val": entry("vqa", "accuracy", [1, 2])})
    res = rcli("diff", str(run_a), str(other))
    assert res.code == 2 and "no scored task in common" in res.err
    with pytest.raises(BadInputError, match="different primary metrics"):
        changed = dict(tasks_a()["vqav2_val"], primary_metric="accuracy_other")
        b = write_run(tmp_path, "changed", "m", {"vqav2_val": changed})
        diff_runs(load_run(run_a), load_run(b))
