"""The open architecture: one registry, declared family contracts, general yes/no and
multiple-choice families, prompts chosen by request fields, honest --seed and --resume."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infmllm_eval.adapters import ADAPTERS, ModelAdapter
from infmllm_eval.cards import task_cards
from infmllm_eval.data import LOADERS
from infmllm_eval.errors import BadInputError, UnknownNameError
from infmllm_eval.families import FAMILIES, get_family
from infmllm_eval.families.base import MetricSpec, recorded_variant
from infmllm_eval.metrics.postprocess import POSTPROCESSORS
from infmllm_eval.modeling.prompts import PROMPT_STYLES, get_style, request_kind
from infmllm_eval.registry import PluginError, Registry
from infmllm_eval.types import GenerationConfig, Request, Response, Sample
from tests.conftest import CONFORMANCE, CliResult
from tests.test_hardening_engine import run_args

Cli = Callable[..., CliResult]
ROOT = Path(__file__).resolve().parent.parent
POPE = CONFORMANCE / "pope"


def test_registry_lazy_entries_decorator_and_did_you_mean() -> None:
    reg: Registry[object] = Registry("widget")
    reg.lazy("json_dumps", "json:dumps")
    assert "json_dumps" in reg and reg.get("json_dumps") is json.dumps

    @reg.register("square")
    def square(x: int) -> int:
        return x * x

    assert reg.get("square") is square and reg.names() == ["json_dumps", "square"]
    with pytest.raises(UnknownNameError, match=r"unknown widget 'sqare'\. Did you mean 'square'"):
        reg.get("sqare")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("square", square)
    reg.lazy("broken", "no_such_module_here:thing")
    with pytest.raises(PluginError, match="widget 'broken' cannot be loaded from "
                                          "no_such_module_here:thing: ModuleNotFoundError"):
        reg.get("broken")


def test_every_kind_of_plugin_has_one_registry_with_an_entry_point_group() -> None:
    from infmllm_eval.families.multiple_choice import EXTRACTORS
    from infmllm_eval.metrics.judge import JUDGES

    groups = {r.group for r in (FAMILIES, LOADERS, ADAPTERS, PROMPT_STYLES, POSTPROCESSORS,
                                JUDGES, EXTRACTORS)}
    assert groups == {"infmllm_eval.families", "infmllm_eval.loaders", "infmllm_eval.adapters",
                      "infmllm_eval.prompt_styles", "infmllm_eval.postprocessors",
                      "infmllm_eval.judges", "infmllm_eval.choice_rules"}
    assert set(FAMILIES.names()) >= {"vqa", "gqa", "caption", "grounding", "yes_no",
                                     "multiple_choice"}
    assert all(issubclass(ADAPTERS.get(n), ModelAdapter) for n in ("infmllm", "scripted"))


HOOKS = {"always_submit", "read_prediction_dir", "read_result_folder", "reads_result_folder",
         "request_cost", "prepare", "run", "stats", "abort", "seed", "unit_key"}


def test_no_getattr_probes_for_protocol_hooks() -> None:
    found = []
    for path in (ROOT / "infmllm_eval").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in HOOKS):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found


def test_every_card_names_a_declared_primary_metric() -> None:
    for card in task_cards().values():
        family = get_family(card.family)
        options = family.default_options() | {k: str(v) for k, v in card.options.items()}
        assert family.metric(card.primary_metric, options) is not None, card.name
    for name in FAMILIES.names():
        family = get_family(name)
        assert family.metric(family.primary_metric) is not None, name


def test_metric_declarations_are_checked() -> None:
    assert MetricSpec("accuracy_*").matches("accuracy_yes/no")
    assert not MetricSpec("accuracy_*").matches("accuracy")
    with pytest.raises(ValueError, match="better='up'"):
        MetricSpec("x", better="up")
    with pytest.raises(ValueError, match="aggregate='median'"):
        MetricSpec("x", aggregate="median")


def test_a_card_with_an_unknown_primary_metric_is_refused_when_cards_load(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tasks").mkdir()
    card = (ROOT / "tasks" / "toy_mme.yaml").read_text()
    (tmp_path / "tasks" / "toy_mme2.yaml").write_text(
        card.replace("name: toy_mme", "name: toy_mme2").replace("groups: [toy]\n", ""))
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp_path))
    assert cli("list", "tasks").code == 0
    # MME's sums are the metrics of aggregate=mme; f1 is POPE's: refused with these options
    (tmp_path / "tasks" / "toy_mme2.yaml").write_text(
        card.replace("name: toy_mme", "name: toy_mme2").replace("groups: [toy]\n", "")
        .replace("primary_metric: perception", "primary_metric: f1"))
    from infmllm_eval.cards import _all_cards

    _all_cards.cache_clear()  # cards are read once per process and set of folders
    res = cli("list", "tasks")
    assert res.code == 2 and "'f1' is not a metric of the yes_no family" in res.err
    assert "It gives: perception, cognition, total" in res.err


def _yes_no(subtask: str | None, n: int = 4) -> list[Sample]:
    meta = {"image": "a.png", "image_file": "a.png"} | ({"subtask": subtask} if subtask else {})
    return [Sample(i, None, {"question": "Is there a cat?"}, "yes" if i % 2 else "no",
                   dict(meta, image=f"{i // 2}.png")) for i in range(n)]


def test_yes_no_refuses_a_subtask_mme_does_not_have_under_mme_sums() -> None:
    """Four right answers of a non-MME subtask were dropped and scored 0."""
    family = get_family("yes_no")
    samples = _yes_no("hallucination")
    answers = {s.key: str(s.targets) for s in samples}
    with pytest.raises(BadInputError, match="'hallucination' is not one of MME's 14"):
        family.score(samples, answers, family.default_options())
    pope = family.score(samples, answers, {"answer_rule": "pope", "aggregate": "pope"})
    assert pope.metrics["accuracy"] == 100.0 and pope.metrics["f1"] == 100.0


def test_pope_rule_and_figures() -> None:
    family = get_family("yes_no")
    samples = _yes_no(None)  # targets: no, yes, no, yes
    answers = {"0": "No, there is not.", "1": "Yes. No doubt.", "2": "There is a cat",
               "3": "not at all"}
    result = family.score(samples, answers, {"answer_rule": "pope", "aggregate": "pope"})
    # labels: no (right), yes (right: "No" is after the first '.'), yes (wrong), no (wrong)
    assert [r.extra["label"] for r in result.per_sample if r.extra] == ["no", "yes", "yes",
                                                                        "no"]
    assert {k: result.metrics[k] for k in ("tp", "fp", "tn", "fn")} == {
        "tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert result.metrics["accuracy"] == 50.0 and result.metrics["yes_ratio"] == 50.0
    assert get_family("yes_no").metric("yes_ratio", {"aggregate": "pope"}).better == "none"


@pytest.mark.skipif(not POPE.is_dir(), reason="../shared/conformance/pope is absent")
def test_pope_reproduces_the_official_evaluate_py() -> None:
    from infmllm_eval.metrics.pope import binary_counts, official_figures, pope_label

    expected = json.loads((POPE / "expected_official.json").read_text())["per_split"]
    names = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall",
             "f1": "F1 score", "yes_ratio": "Yes ratio"}
    for split, want in expected.items():
        questions = [json.loads(x) for x in (POPE / f"coco_pope_{split}.json").open()]
        answers = {json.loads(x)["question_id"]: json.loads(x)["answer"]
                   for x in (POPE / f"answers_{split}.jsonl").open()}
        counts = binary_counts((pope_label(answers[q["question_id"]]), q["label"])
                               for q in questions)
        assert {k.upper(): v for k, v in counts.items()} == {
            k: want[k] for k in ("TP", "FP", "TN", "FN")}
        figures = official_figures(counts)
        assert {names[k]: v for k, v in figures.items()} == {
            v: want[v] for v in names.values()}  # to the bit


def test_multiple_choice_without_circular_evaluation() -> None:
    family = get_family("multiple_choice")
    options = [["A", "red"], ["B", "blue"]]
    samples = [Sample(i, None, {"question": "Colour?", "hint": "", "options": options},
                      "A" if i < 2 else "B", {"category": "colour"}) for i in range(4)]
    answers = {"0": "A", "1": "B", "2": "blue", "3": "I cannot tell"}
    opts = family.default_options() | {"circular": "off"}
    result = family.score(samples, answers, opts)
    assert result.metrics == {"accuracy": 50.0}
    assert result.breakdown["category"] == {"colour": 50.0}
    assert result.parse_failures == 1
    assert family.metric("accuracy", opts) is not None
    assert family.metric("circular_accuracy", opts) is None
    # options added since runs were recorded are recorded only when set otherwise
    assert recorded_variant(family, family.default_options()) == {"judge": "none"}
    assert recorded_variant(family, opts) == {"judge": "none", "circular": "off"}


def test_prompts_are_chosen_by_what_a_request_carries() -> None:
    chat = get_style("chat")
    assert request_kind({}) == "caption"
    assert request_kind({"question": "q", "options": [["A", "x"]]}) == "options"
    # a family no prompt branch knows, with the usual fields, renders like any question
    assert chat.render({"question": "Is it red?"}).after.startswith("\nIs it red?\n")
    with pytest.raises(BadInputError, match="carries none of"):
        chat.render({"statement": "x"})


class _Sampler(ModelAdapter):
    name = "sampler"

    def generate(self, requests: list[Request]) -> list[Response]:
        return [Response(r.key, "yes") for r in requests]


def test_an_adapter_that_cannot_be_seeded_says_so() -> None:
    with pytest.raises(BadInputError, match="cannot be seeded"):
        _Sampler().seed(1)
    assert _Sampler().request_cost(Request("1", None, "vqa", {}, GenerationConfig())) == 0


def test_seed_is_refused_when_no_task_samples(cli: Cli, tmp_path: Path) -> None:
    res = cli(*run_args(tmp_path, "r", "--model-option", "default=yes", "--seed", "3"))
    assert res.code == 2 and "--seed 3: no selected task samples" in res.err
    res = cli(*run_args(tmp_path, "r", "--model-option", "default=yes", "--seed", "3",
                        "--generation", "do_sample=true"))
    assert res.code == 0, res.err


def test_resume_takes_an_explicit_batch_size_and_keeps_the_runs_otherwise(
        cli: Cli, tmp_path: Path) -> None:
    res = cli(*run_args(tmp_path, "r", "--model-option", "default=yes", "--batch-size", "3",
                        "--on-image-error", "skip"))
    assert res.code == 0, res.err

    def recorded() -> tuple[int, str]:
        config = json.loads((tmp_path / "r" / "run.json").read_text())["config"]
        return config["batch_size"], config["on_image_error"]

    assert cli("run", "--resume", str(tmp_path / "r")).code == 0
    assert recorded() == (3, "skip")
    assert cli("run", "--resume", str(tmp_path / "r"), "--batch-size", "8").code == 0
    assert recorded() == (8, "skip")


def test_an_other_answer_under_pope_figures_is_wrong_not_a_no() -> None:
    """MME's rule labels 'maybe' as other; with POPE's figures it must count as a wrong
    answer (it was taken as 'no': a true negative for a no-question)."""
    family = get_family("yes_no")
    samples = _yes_no(None, 2)  # targets: no, yes
    result = family.score(samples, {"0": "maybe", "1": "maybe"},
                          {"answer_rule": "mme", "aggregate": "pope"})
    assert result.metrics["accuracy"] == 0.0
    assert {k: result.metrics[k] for k in ("tp", "fp", "tn", "fn")} == {
        "tp": 0, "fp": 1, "tn": 0, "fn": 1}
    assert result.parse_failures == 2


def test_score_does_not_replace_the_metrics_of_another_predictions_file(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs name every predictions file <task>.jsonl: scoring run B's after run A's from the
    same folder replaced A's metrics without a word (found in review)."""
    from infmllm_eval.toy import DATA_ROOT

    monkeypatch.chdir(tmp_path)
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "toy_vqa.jsonl").write_text('{"id": 10100000, "prediction": "red"}\n')
    args = ("score", "--task", "toy_vqa", "--data-root", str(DATA_ROOT), "--allow-partial")
    assert cli(*args, "--predictions", "a/toy_vqa.jsonl").code == 0
    assert cli(*args, "--predictions", "a/toy_vqa.jsonl").code == 0  # its own: replaced
    res = cli(*args, "--predictions", "b/toy_vqa.jsonl")
    assert res.code == 2 and "would replace them; pass --output" in res.err
    assert json.loads((tmp_path / "toy_vqa.metrics.json").read_text())["predictions"] == \
        "a/toy_vqa.jsonl"


def test_resume_keeps_a_seed_recorded_before_seeds_were_checked(
        cli: Cli, tmp_path: Path) -> None:
    res = cli(*run_args(tmp_path, "r", "--model-option", "default=yes"))
    assert res.code == 0, res.err
    run_json = tmp_path / "r" / "run.json"
    recorded = json.loads(run_json.read_text())
    recorded["config"]["seed"] = 5  # as an older version let greedy runs record
    run_json.write_text(json.dumps(recorded))
    res = cli("run", "--resume", str(tmp_path / "r"))
    assert res.code == 0, res.err
