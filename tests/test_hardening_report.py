"""Issue 23, report area: gate verdicts on malformed baselines (class 9), no command writing
over a file it reads (class 11), and Unicode line separators in the predictions JSONL that
`import lmms-eval` writes (class 1). The bad-input corpus (cases_report.json) has the CLI
cases; here are the ones that need a round trip, links, or a look at the library's result."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError
from infmllm_eval.lmms.bridge import generation_from_kwargs
from infmllm_eval.outputs import refuse_overwrite
from infmllm_eval.report.diff import diff_task
from infmllm_eval.report.gate import run_gate
from infmllm_eval.report.runs import RunResult, load_run
from infmllm_eval.types import GenerationConfig
from tests.conftest import ROOT, CliResult
from tests.test_report_fixtures import entry, use_report_commands, write_run

Cli = Callable[..., CliResult]
VALID = ROOT / "tests" / "bad_inputs" / "_valid" / "vqav2"
TOY_BASELINE = ROOT / "results" / "baselines" / "toy.json"
N = 200
VARIANT = {"normalization": "always"}


@pytest.fixture
def rcli(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    use_report_commands(monkeypatch)
    return cli


def vqa(wrong: int, ids: list[Any] | None = None) -> dict[str, Any]:
    """N samples, 120 right, then ``wrong`` of those turned wrong."""
    scores = [100.0] * 120 + [0.0] * (N - 120)
    for i in range(wrong):
        scores[i] = 0.0
    return entry("vqa", "accuracy", scores, variant=VARIANT, ids=ids)


def baseline_file(tmp_path: Path, task_entry: dict[str, Any], name: str = "base.json",
                  ) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "infmllm-eval-baseline", "version": 1,
                                "tolerances": {}, "tasks": {"vqav2_val": task_entry}}))
    return path


# ---- class 9: gate verdicts -------------------------------------------------------------


@pytest.mark.parametrize("tasks", [{}, {"vqav2_testdev": {"submission": "s.json",
                                                          "n_samples": 3, "variant": {}}}])
def test_a_baseline_without_tracked_metrics_is_bad_input(tmp_path: Path,
                                                         tasks: dict[str, Any]) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"format": "infmllm-eval-baseline", "version": 1,
                                "tasks": tasks}))
    run = load_run(write_run(tmp_path, "run", "m", {"vqav2_val": vqa(0)}))
    with pytest.raises(BadInputError, match="tracks no metric") as info:
        run_gate(load_run(base), run)
    assert str(base) in str(info.value)


def test_a_cut_per_sample_list_is_refused_with_the_counts(tmp_path: Path) -> None:
    """The paired test over the 20 rows left would call a 1-sample change significant."""
    cut = vqa(0)
    cut["per_sample"] = cut["per_sample"][:20]
    with pytest.raises(BadInputError, match="'per_sample' has 20 rows but n_scored is 200") \
            as info:
        load_run(baseline_file(tmp_path, cut))
    assert "'vqav2_val'" in str(info.value)


def test_a_duplicated_per_sample_id_is_refused_naming_it(tmp_path: Path) -> None:
    ids: list[Any] = list(range(1, N + 1))
    ids[5] = 3  # same count, id 3 twice: the p-value would weigh it double
    with pytest.raises(BadInputError, match="per-sample id 3 appears twice"):
        load_run(baseline_file(tmp_path, vqa(0, ids)))
    ids[5] = "3"  # "3" and 3 are one sample to diff and gate (ids compare as text)
    with pytest.raises(BadInputError, match="per-sample id '3' appears twice"):
        load_run(baseline_file(tmp_path, vqa(0, ids)))


def test_equal_sizes_over_different_samples_are_refused(tmp_path: Path) -> None:
    base = load_run(baseline_file(tmp_path, vqa(0)))
    shifted = vqa(3, list(range(101, N + 101)))  # half the ids are other samples
    run = load_run(write_run(tmp_path, "run", "m", {"vqav2_val": shifted}))
    for alpha in (None, 0.05):
        with pytest.raises(BadInputError, match=r"per-sample ids differ .*100 in common"):
            run_gate(base, run, alpha=alpha)


def test_per_sample_scores_that_contradict_the_metric_are_refused(tmp_path: Path) -> None:
    edited = vqa(0)
    for row in edited["per_sample"][:60]:
        row["score"] = 0.0  # the recorded accuracy (60) is no longer their mean
    base = load_run(baseline_file(tmp_path, edited))
    run = load_run(write_run(tmp_path, "run", "m", {"vqav2_val": vqa(1)}))
    with pytest.raises(BadInputError, match="do not reproduce its accuracy"):
        run_gate(base, run, alpha=0.05)
    assert not run_gate(base, run).failed  # without a paired test they are not used


def test_nan_in_a_tracked_metric_is_no_value(tmp_path: Path) -> None:
    """NaN (a file cannot hold it: malformed JSON; in-process it can) and null (how the
    harness writes NaN) are both 'no value': bad input, never a pass or a fail."""
    nan = vqa(0)
    nan["metrics"]["accuracy"] = float("nan")
    base = load_run(baseline_file(tmp_path, vqa(0)))
    with pytest.raises(BadInputError, match=r"no result for vqav2_val\.accuracy"):
        run_gate(base, RunResult("nan", tmp_path / "nan", "m", {"vqav2_val": nan}))
    written = write_run(tmp_path, "nan", "m", {"vqav2_val": nan})
    with pytest.raises(BadInputError, match="malformed JSON"):
        load_run(written)
    null = vqa(0)
    null["metrics"]["accuracy"] = None
    with pytest.raises(BadInputError, match=r"the baseline has no value for vqav2_val\.accuracy"):
        run_gate(load_run(baseline_file(tmp_path, null, "null.json")), base)


def test_the_toy_baseline_still_passes_against_itself(rcli: Cli) -> None:
    """The checks refuse malformed files only: the shipped baseline passes every check,
    with a p-value for every primary metric that is a mean of per-sample scores."""
    res = rcli("gate", "--baseline", str(TOY_BASELINE), str(TOY_BASELINE),
               "--significance", "0.05")
    assert res.code == 0, res.err
    tracked = json.loads(TOY_BASELINE.read_text())["tasks"]
    assert f"gate passed: {len(tracked)} checks" in res.out


@pytest.mark.parametrize("command", ["report", "diff", "gate", "baseline"])
def test_every_results_command_ends_in_one_line(rcli: Cli, tmp_path: Path,
                                                command: str) -> None:
    good = write_run(tmp_path, "good", "m", {"vqav2_val": vqa(0)})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tasks": {"vqav2_val": {**vqa(0), "variant": "always"}}}))
    argv = {"report": ["report", str(bad)], "diff": ["diff", str(good), str(bad)],
            "gate": ["gate", "--baseline", str(good), str(bad)],
            "baseline": ["baseline", str(bad), "--output", str(tmp_path / "b.json")]}[command]
    res = rcli(*argv)
    assert res.code == 2 and "Traceback" not in res.err
    assert res.err.count("\n") == 1 and str(bad) in res.err and "'variant' must map" in res.err


# ---- class 11: no command writes over a file it reads --------------------------------------


def _score(cli: Cli, *extra: str, preds: Path = VALID / "predictions.jsonl") -> CliResult:
    return cli("score", "--task", "vqav2_val", "--file", f"questions={VALID / 'questions.json'}",
               "--file", f"annotations={VALID / 'annotations.json'}", "--predictions",
               str(preds), *extra)


def _digest(*paths: Path) -> list[bytes]:
    return [p.read_bytes() for p in paths]


def test_score_refuses_every_input_as_output(cli: Cli, tmp_path: Path) -> None:
    inputs = {"predictions file": VALID / "predictions.jsonl",
              "questions file of vqav2_val": VALID / "questions.json",
              "annotations file of vqav2_val": VALID / "annotations.json"}
    before = _digest(*inputs.values())
    for role, path in inputs.items():
        link, hard = tmp_path / f"link-{path.name}", tmp_path / f"hard-{path.name}"
        link.symlink_to(path)
        os.link(path, hard)
        for output in (path, link, hard):
            res = _score(cli, "--output", str(output))
            assert res.code == 2, res.err
            assert f"--output is the {role} {path}" in res.err and str(output) in res.err
            assert res.err.count("\n") == 1
    assert _digest(*inputs.values()) == before
    assert link.is_symlink()  # the link itself is not replaced either


def test_score_default_output_that_is_a_data_file(cli: Cli, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --output the metrics go to ./<predictions stem>.metrics.json: never over a
    data file that happens to have that name."""
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    preds = tmp_path / "p.jsonl"
    preds.write_bytes((VALID / "predictions.jsonl").read_bytes())
    annotations = tmp_path / "p.metrics.json"
    annotations.write_bytes((VALID / "annotations.json").read_bytes())
    res = cli("score", "--task", "vqav2_val", "--file", f"questions={VALID / 'questions.json'}",
              "--file", f"annotations={annotations}", "--predictions", str(preds))
    assert res.code == 2
    assert "the metrics file p.metrics.json is the annotations file of vqav2_val" in res.err
    assert annotations.read_bytes() == (VALID / "annotations.json").read_bytes()


def test_score_writes_into_the_current_folder(cli: Cli, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    preds = tmp_path / "p.jsonl"
    preds.write_bytes((VALID / "predictions.jsonl").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert _score(cli, preds=preds).code == 0
    assert json.loads((tmp_path / "p.metrics.json").read_text())["n_scored"] == 2
    again = _score(cli, "--output", str(tmp_path / "p.metrics.json"), preds=preds)
    assert again.code == 0  # rewriting one's own metrics file is fine


def test_an_existing_file_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "MME_Benchmark"
    (data / "count").mkdir(parents=True)
    inside = data / "count" / "questions.txt"
    inside.write_text("q\tYes\n")
    with pytest.raises(BadInputError, match="is a file inside the root folder"):
        refuse_overwrite(inside, "--output", [("the root folder", data)], "choose another")
    refuse_overwrite(data / "new.json", "--output", [("the root folder", data)], "x")  # new


def test_report_commands_refuse_their_inputs(rcli: Cli, tmp_path: Path) -> None:
    a = write_run(tmp_path, "a", "m", {"vqav2_val": vqa(0)})
    b = write_run(tmp_path, "b", "m", {"vqav2_val": vqa(2)})
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"name": "r", "description": "d", "models": []}))
    os.link(a / "metrics.json", tmp_path / "hard.json")
    before = _digest(a / "metrics.json", b / "metrics.json", ref)
    cases = [
        (["report", str(a), "--output", str(tmp_path / "hard.json")], "--output is the results"),
        (["report", str(a), "--reference", str(ref), "--output", str(ref)],
         "--output is the --reference file"),
        (["report", str(a), "--baseline", str(b), "--output", str(b / "metrics.json")],
         "--output is the --baseline results file"),
        (["diff", str(a), str(b), "--output", str(a / "metrics.json")],
         "--output is the results file RUN_A"),
        (["gate", "--baseline", str(a), str(b), "--junit", str(b / "metrics.json")],
         "--junit is the results file RUN"),
        (["baseline", str(a), "--output", str(tmp_path / "hard.json")],
         "--output is the results file RUN"),
    ]
    for argv, message in cases:
        res = rcli(*argv)
        assert res.code == 2 and message in res.err, (argv, res.err)
        assert res.err.count("\n") == 1
    assert _digest(a / "metrics.json", b / "metrics.json", ref) == before
    assert rcli("report", str(a), "--output", str(tmp_path / "t.md")).code == 0


def test_import_refuses_samples_and_dataset_files(cli: Cli, tmp_path: Path) -> None:
    samples = tmp_path / "x_samples_vqav2_val.jsonl"
    samples.write_text(json.dumps({"doc_id": 0, "filtered_resps": "red",
                                   "submission": {"question_id": 11}}) + "\n")
    dataset = tmp_path / "VQAv2"
    dataset.mkdir()
    parquet = dataset / "validation-00000.parquet"
    parquet.write_bytes(b"PAR1")
    before = _digest(samples, parquet)
    for output, message in ((samples, "--output is the samples file"),
                            (parquet, "is a file inside the --dataset")):
        res = cli("import", "lmms-eval", str(samples), "--task", "vqav2_val", "--dataset",
                  str(dataset), "--output", str(output))
        assert res.code == 2 and message in res.err, res.err
    assert _digest(samples, parquet) == before


# ---- class 1: line separators in the JSONL that `import lmms-eval` writes -----------------

SEPARATORS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_import_round_trip_with_every_line_separator(cli: Cli, tmp_path: Path) -> None:
    """Each answer holds one Unicode line break: the JSONL keeps one record per line for any
    line-based reader (str.splitlines too), and `score` reads the exact texts back."""
    answers = [f"re{ch}d" for ch in SEPARATORS]
    samples = [{"doc_id": i, "filtered_resps": [answer], "submission": {"question_id": 100 + i}}
               for i, answer in enumerate(answers)]
    questions = {"questions": [{"image_id": 1, "question": "q?", "question_id": 100 + i}
                               for i in range(len(answers))]}
    annotations = {"annotations": [
        {"question_id": 100 + i, "image_id": 1, "question_type": "what",
         "answer_type": "other", "multiple_choice_answer": "red",
         "answers": [{"answer": "red", "answer_confidence": "yes", "answer_id": k}
                     for k in range(1, 11)]} for i in range(len(answers))]}
    (tmp_path / "q.json").write_text(json.dumps(questions))
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    path = tmp_path / "x_samples_vqav2_val.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in samples))
    preds = tmp_path / "p.jsonl"
    res = cli("import", "lmms-eval", str(path), "--task", "vqav2_val", "--output", str(preds))
    assert res.code == 0, res.err
    text = preds.read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(answers)  # no record split by a reader
    assert [json.loads(line)["prediction"] for line in text.splitlines()] == answers
    metrics = tmp_path / "m.json"
    res = cli("score", "--task", "vqav2_val", "--file", f"questions={tmp_path / 'q.json'}",
              "--file", f"annotations={tmp_path / 'a.json'}", "--predictions", str(preds),
              "--output", str(metrics))
    assert res.code == 0, res.err
    result = json.loads(metrics.read_text())
    assert result["n_scored"] == len(answers) and result["n_missing"] == 0
    assert [r["prediction"] for r in result["per_sample"]] == answers


def test_circular_eval_runs_pair_questions_even_when_rows_agree(tmp_path: Path) -> None:
    """A run whose every question is all right or all wrong has row mean == circular
    accuracy; it must still pair by question with a run that has split questions, not mix
    row ids with question ids."""
    groups = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    uniform = entry("multiple_choice", "circular_accuracy", [100.0] * 8 + [0.0] * 4,
                    groups=groups, ids=list(range(1, 13)))
    split = entry("multiple_choice", "circular_accuracy",
                  [100.0] * 4 + [100.0, 0.0, 100.0, 100.0] + [0.0] * 4, groups=groups,
                  ids=list(range(1, 13)))
    result = diff_task("mmbench_dev_en", uniform, split)
    assert result.units == "question" and result.paired is not None
    assert result.paired.n == 3 and result.paired.delta == pytest.approx(-100.0 / 3)
    base = load_run(baseline_file(tmp_path, uniform))
    run = load_run(write_run(tmp_path, "run", "m", {"vqav2_val": split}))
    check = run_gate(base, run, alpha=0.05).checks[0]
    assert check.failed and check.delta == pytest.approx(-100.0 / 3)


def test_diff_says_when_the_runs_share_only_some_samples(tmp_path: Path) -> None:
    a = vqa(0)
    b = vqa(0, list(range(101, N + 101)))
    result = diff_task("vqav2_val", a, b)
    assert result.n_common == 100
    assert any("share 100 samples (A has 200, B 200)" in note for note in result.notes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": 10 ** 400}, "temperature=<integer of about 401 digits> is not a number"),
    ({"length_penalty": float("inf")}, "length_penalty=inf is not a number"),
    ({"top_p": True}, "top_p=True is not a number"),
    ({"top_p": float("nan")}, "top_p=nan is not a number"),
    ({"max_new_tokens": "x" * 5000}, r"max_new_tokens='xxxx.*' is not a number"),
])
def test_lmms_generation_settings_end_in_one_bounded_line(kwargs: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(BadInputError, match=message) as info:
        generation_from_kwargs(kwargs, GenerationConfig(max_new_tokens=16), "task t, doc 0")
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("task", ["vqa.v2", ""])
def test_a_baseline_task_that_cannot_be_named_task_metric(tmp_path: Path, task: str) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"tasks": {task: vqa(0)}}))
    run = load_run(write_run(tmp_path, "run", "m", {"vqav2_val": vqa(0)}))
    with pytest.raises(BadInputError, match="cannot be tracked"):
        run_gate(load_run(base), run)
