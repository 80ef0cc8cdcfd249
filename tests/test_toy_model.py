"""The shipped toy model: strict loading, the acceptance targets, the CI gate against
results/baselines/toy.json, a planted regression the gate catches, and the training script."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from infmllm_eval.catalog import resolve_model
from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import InfMLLM, InfMLLMConfig, load_state_dict, load_weights
from infmllm_eval.report.gate import baseline_document, run_gate
from infmllm_eval.report.runs import load_run
from infmllm_eval.toy import DATA_ROOT, TASKS, WEIGHTS
from tests.conftest import ROOT, CliResult
from tools.toy.train import build_model, train
from tools.toy.vision_stage import (
    cell_labels,
    ground_words,
    grounded_rows,
    pixels,
    pretrain_vision,
)
from tools.toy.world import BACKGROUNDS, COLORS, KINDS, TRAIN_SEEDS, make_scene

Cli = Callable[..., CliResult]
BASELINE = ROOT / "results" / "baselines" / "toy.json"
# issue 12's targets: task -> (metric, minimum); MME: every subtask's score >= 140 of 200
TARGETS = {"toy_vqa": ("accuracy", 70.0), "toy_caption": ("CIDEr", 100.0),
           "toy_grounding": ("acc@0.5", 50.0), "toy_mmbench": ("circular_accuracy", 50.0)}
MME_SUBTASK_MIN = 140.0


def evaluate(cli: Cli, out: Path, tasks: str = "toy", *extra: str) -> tuple[Path, dict[str, Any]]:
    """`infmllm-eval run` of the shipped model; (run directory, its metrics.json tasks)."""
    res = cli("run", "--model", "infmllm-tiny-toy", "--tasks", tasks, "--data-root",
              str(DATA_ROOT), "--model-option", f"weights={WEIGHTS}", "--output-dir", str(out),
              "--batch-size", "32", "--new-run", *extra)
    assert res.code == 0, res.err
    (run_dir,) = [p for p in out.iterdir() if (p / "metrics.json").is_file()]
    return run_dir, json.loads((run_dir / "metrics.json").read_text())["tasks"]


def assert_targets(tasks: dict[str, Any], only: set[str] | None = None) -> None:
    for task, (metric, minimum) in TARGETS.items():
        if only is not None and task not in only:
            continue
        assert tasks[task]["metrics"][metric] >= minimum, (task, tasks[task]["metrics"])
    if only is not None and "toy_mme" not in only:
        return
    for name, sub in tasks["toy_mme"]["breakdown"]["subtasks"].items():
        assert sub["score"] >= MME_SUBTASK_MIN, (name, sub)


def test_shipped_weights_load_strictly_with_original_names() -> None:
    assert WEIGHTS.stat().st_size <= 20 * 2**20
    card = resolve_model("infmllm-tiny-toy")
    model = InfMLLM(InfMLLMConfig.from_dict(dict(card.architecture)))
    state = load_state_dict(WEIGHTS)
    load_weights(model, state, strict=True)
    prefixes = {key.split(".")[0] for key in state}
    assert prefixes == {"visual_encoder", "ln_vision", "pooler", "lm_model"}
    assert "lm_model.model.layers.0.self_attn.q_proj.weight" in state
    assert sum(t.numel() for t in state.values()) < 5_000_000  # "tiny": a few million


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first 30 samples of every toy task, run once for the module."""
    import sys

    from infmllm_eval.cli import main

    out = tmp_path_factory.mktemp("subset")
    argv = ["infmllm-eval", "run", "--model", "infmllm-tiny-toy", "--tasks", "toy",
            "--data-root", str(DATA_ROOT), "--model-option", f"weights={WEIGHTS}",
            "--output-dir", str(out), "--batch-size", "32", "--limit", "30"]
    code: object = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", argv)
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    assert code in (0, None)
    (run_dir,) = list(out.iterdir())
    tasks: dict[str, Any] = json.loads((run_dir / "metrics.json").read_text())["tasks"]
    return tasks


def test_subset_reaches_every_target(subset: dict[str, Any]) -> None:
    """The shipped model (vision stage + 2,800 CPU steps) meets every target of issue 12 on
    the first 30 samples of each toy task, MME color and count included."""
    assert set(subset) == set(TASKS)
    assert_targets(subset)


def test_planted_box_parser_regression_fails_the_gate(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good, tasks = evaluate(cli, tmp_path / "good", "toy_grounding", "--limit", "30")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(baseline_document(load_run(good))))
    assert not run_gate(load_run(baseline), load_run(good)).failed
    monkeypatch.setattr("infmllm_eval.families.grounding.parse_box", lambda text: None)
    bad, broken = evaluate(cli, tmp_path / "bad", "toy_grounding", "--limit", "30")
    assert broken["toy_grounding"]["metrics"]["acc@0.5"] == 0.0
    assert tasks["toy_grounding"]["metrics"]["acc@0.5"] > 1.0  # the gate's default tolerance
    result = run_gate(load_run(baseline), load_run(bad))
    assert result.failed
    assert [c.name for c in result.checks if c.failed] == ["toy_grounding.acc@0.5"]


def test_planted_prompt_regression_drops_the_score(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infmllm_eval.modeling import prompts

    style = prompts.get_style("multitask")
    corrupted = prompts.PromptStyle(style.name, style.image_transform, style.caption_prompt,
                                    lambda fields, caption: prompts.Prompt("<image>", ""))
    monkeypatch.setitem(prompts.PROMPT_STYLES._items, "multitask", corrupted)
    _, tasks = evaluate(cli, tmp_path, "toy_mmbench", "--limit", "30")
    assert tasks["toy_mmbench"]["metrics"]["circular_accuracy"] < 50.0


def test_baseline_file_records_every_target() -> None:
    """The baseline keeps MME's perception score, not its subtasks: two subtasks of at
    least 140 each make at least 280."""
    baseline = load_run(BASELINE)
    assert set(baseline.tasks) == set(TASKS)
    assert_targets(baseline.tasks, set(TARGETS))
    assert baseline.tasks["toy_mme"]["metrics"]["perception"] >= 2 * MME_SUBTASK_MIN


@pytest.mark.slow
def test_demo_runs_every_toy_task_and_passes_the_gate(cli: Cli, tmp_path: Path) -> None:
    """The README's main command: the shipped model on the full toy test splits."""
    res = cli("demo", "--output-dir", str(tmp_path))
    assert res.code == 0, res.err
    (run_dir,) = list(tmp_path.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["model"]["adapter"] == "infmllm" and run["config"]["model"] == "infmllm-tiny-toy"
    tasks = json.loads((run_dir / "metrics.json").read_text())["tasks"]
    assert list(tasks) == list(TASKS)
    assert [tasks[t]["n_samples"] for t in TASKS] == [100, 300, 200, 160, 240]
    assert_targets(tasks)  # every target on the full test splits, MME subtasks included
    assert "| infmllm-tiny-toy |" in res.out  # the leaderboard row
    result = run_gate(load_run(BASELINE), load_run(run_dir))
    assert not result.failed, [c for c in result.checks if c.failed]


def test_training_script_is_deterministic(tmp_path: Path) -> None:
    """Same seed and thread count (the default, two), same tensors (the safetensors header's
    metadata order may vary): the shipped weights are what the script writes (the full run's
    reproduction is in docs/toy-training.md); torch's thread settings are restored."""
    threads = torch.get_num_threads()
    runs = [train(tmp_path / f"{i}.safetensors", steps=4, batch_size=4, lr=2e-3, seed=0,
                  threads=2, log_every=0, vision_steps=3, opening_steps=3,
                  grounded_words=True) for i in range(2)]
    first, second = (load_state_dict(tmp_path / f"{i}.safetensors") for i in range(2))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert runs[0]["loss"] == runs[1]["loss"] > 0
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    other = train(tmp_path / "seed1.safetensors", steps=4, batch_size=4, lr=2e-3, seed=1,
                  threads=1, log_every=0, vision_steps=3)  # defaults: no opening, no grounding
    assert other["loss"] != runs[0]["loss"]
    state = load_state_dict(tmp_path / "0.safetensors")
    model = InfMLLM(InfMLLMConfig.from_dict(dict(resolve_model("infmllm-tiny-toy").architecture)))
    load_weights(model, state, strict=True)  # the card's architecture, original key names


def test_vision_stage_learns_each_cell_and_freezes_the_vit() -> None:
    torch.manual_seed(0)
    model, style, _ = build_model(0)
    scene = make_scene(TRAIN_SEEDS + 10_000)
    labels = cell_labels([scene])[0].tolist()
    for index, ((shape, part), got) in enumerate(zip(scene.cells(), labels, strict=True)):
        what = ([0, 5 + sorted(BACKGROUNDS).index(scene.background), 0] if shape is None
                else [1 + KINDS.index(shape.kind), sorted(COLORS).index(shape.color), part])
        assert got == [*what, index // 4, index % 4]  # row and column of the 4x4 grid
    _, untrained, _ = pretrain_vision(model, style, steps=0, batch_size=32, lr=2e-3, seed=0)
    for param in model.parameters():
        param.requires_grad_(True)
    loss, accuracy, head = pretrain_vision(model, style, steps=150, batch_size=32, lr=2e-3,
                                           seed=0, log_every=0)
    assert accuracy > 0.9 > 0.5 > untrained and loss < 1.0  # 5 labels: ~7.6 at the start
    for frozen in (model.visual_encoder, model.ln_vision, model.pooler):
        assert not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in model.lm_model.parameters())
    check_grounded_words(model, style, head)


def check_grounded_words(model: InfMLLM, style: Any, head: torch.nn.Linear) -> None:
    """After ground_words, a shape's visual token is (nearly always) closest to its own kind
    and colour words, a background cell's to its background word; other rows are untouched."""
    tok = build_model(0)[2]
    table = model.lm_model.get_input_embeddings().weight
    before = table.detach().clone()
    ground_words(model, tok, head)
    ids = {word: tok.encode(word)[0] for word in grounded_rows()}
    changed = (table != before).any(-1).nonzero().flatten().tolist()
    assert sorted(changed) == sorted(ids.values())
    norms = table[list(ids.values())].norm(dim=-1)
    torch.testing.assert_close(norms, torch.full_like(norms, float(before.norm(dim=-1).mean())))
    scenes = [make_scene(TRAIN_SEEDS + 20_000 + i) for i in range(8)]
    with torch.no_grad():
        tokens = model.encode_images(pixels(model, style, scenes))
    groups = (list(KINDS), sorted(COLORS), sorted(BACKGROUNDS))
    right = []
    for scene, cells in zip(scenes, tokens, strict=True):
        for (shape, _), token in zip(scene.cells(), cells, strict=True):
            wanted = [scene.background] if shape is None else [shape.kind, shape.color]
            for word in wanted:
                group = next(g for g in groups if word in g)
                scores = [float(table[ids[w]] @ token) for w in group]
                right.append(group[scores.index(max(scores))] == word)
    # 88 % here: the head's biases left out, after 150 short steps; chance 1/3 to 1/5
    assert sum(right) / len(right) > 0.8, sum(right) / len(right)


def test_word_grounding_refuses_a_word_of_several_pieces() -> None:
    model, _, tok = build_model(0)
    head = torch.nn.Linear(model.config.llm_hidden, 20)

    class Splitting:
        def encode(self, text: str) -> list[int]:
            return tok.encode(text) * (2 if text == "purple" else 1)

    with pytest.raises(BadInputError, match="'purple' into 2 pieces"):
        ground_words(model, Splitting(), head)  # type: ignore[arg-type]


def test_vision_stage_refuses_a_card_without_one_patch_per_cell() -> None:
    arch = dict(resolve_model("infmllm-tiny-toy").architecture) | {"patch_size": 8,
                                                                 "pool_out_size": 4}
    model = InfMLLM(InfMLLMConfig.from_dict(arch))
    _, style, _ = build_model(0)
    with pytest.raises(BadInputError, match="4x4 patches"):
        pretrain_vision(model, style, steps=1, batch_size=2, lr=1e-3, seed=0)


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps must be >= 1"),
    (["--batch-size", "-2"], "--batch-size must be >= 1"),
    (["--vision-steps", "-1"], "--vision-steps must be >= 0"),
    (["--opening-steps", "-1"], "--opening-steps must be >= 0"),
    (["--lr", "0"], "--lr must be > 0"),
    (["--focus-weight", "-0.5"], "--focus-weight must be >= 0"),
    (["--focus-weight", "nan"], "--focus-weight must be >= 0"),
])
def test_training_command_refuses_bad_settings_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    from tools.toy.train import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "m.safetensors"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m.safetensors").exists()


def test_training_command_reports_a_mismatched_card_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.toy import train as trainer

    def wrong_grid(seed: int) -> Any:
        model, style, tok = build_model(seed)
        model.visual_encoder.grid_size = 2
        return model, style, tok

    monkeypatch.setattr(trainer, "build_model", wrong_grid)
    with pytest.raises(SystemExit) as exit_info:
        trainer.main(["--out", str(tmp_path / "m.safetensors"), "--steps", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: toy vision pretraining needs 64-pixel")
    assert not (tmp_path / "m.safetensors").exists()


def test_loss_averages_within_each_example_first() -> None:
    from tools.toy.train import example_mean_loss

    logits = torch.zeros(2, 6, 4)
    logits[0, :, 1] = 5.0  # example 0 predicts token 1 everywhere: right on its one label
    labels = torch.full((2, 6), -100)
    labels[0, 1] = 1
    labels[1, 1:] = torch.tensor([2, 2, 2, 2, 2])  # example 1: five labels, uniform logits
    per_example = [float(torch.nn.functional.cross_entropy(logits[0, :1], labels[0, 1:2])),
                   float(torch.log(torch.tensor(4.0)))]
    assert float(example_mean_loss(logits, labels)) == pytest.approx(sum(per_example) / 2)


def test_stage_two_curriculum_grows_the_shape_count() -> None:
    """One-shape scenes first, then at most two, then the full world (SHAPE_SCHEDULE)."""
    import random

    from tools.toy.train import SHAPE_SCHEDULE, draw_batch, max_shapes

    (first, one), (second, two) = SHAPE_SCHEDULE
    assert (one, two) == (1, 2) and 0 < first < second
    assert [max_shapes(s) for s in (0, first - 1, first, second - 1, second, 10**6)] == [
        1, 1, 2, 2, 3, 3]
    rng = random.Random(0)
    for most in (1, 2):
        batch = draw_batch(rng, 200, most)
        assert len(batch) == 200 and all(len(scene.shapes) <= most for scene, _ in batch)
    assert {len(scene.shapes) for scene, _ in draw_batch(rng, 200)} == {1, 2, 3}


def test_opening_phase_draws_only_mme_colour_pairs_on_small_scenes() -> None:
    """The optional opening (--opening-steps) gives both questions of MME colour pairs, yes
    exactly when the scene has a shape of that colour and kind: one shape first, then two."""
    import random

    from tools.toy.train import OPENING, draw_batch, max_shapes

    assert [max_shapes(s, OPENING.shapes) for s in (0, 99, 100, 399)] == [1, 1, 2, 2]
    rng = random.Random(4)
    seen = set()
    for most in (1, 2):
        items = draw_batch(rng, 100, most, OPENING.mix)  # 50 whole pairs
        for (scene, first), (other, second) in zip(items[::2], items[1::2], strict=True):
            assert other is scene and len(scene.shapes) <= most
            assert first[0] == second[0] == "yes_no" and {first[2], second[2]} == {"yes", "no"}
            for _, fields, answer in (first, second):
                words = fields["question"].split()
                assert fields["question"].endswith("in the image? Please answer yes or no.")
                color, kind = words[3:5]
                assert kind in KINDS and color in COLORS
                present = any(s.color == color and s.kind == kind for s in scene.shapes)
                assert answer == ("yes" if present else "no")
                seen.add((len(scene.shapes), answer))
    assert seen == {(1, "yes"), (1, "no"), (2, "yes"), (2, "no")}


def test_yes_no_draws_are_mme_pairs_about_one_image() -> None:
    """A yes/no draw gives both questions of the pair (one yes, one no) on the same scene;
    every family's example is well formed."""
    import random

    from tools.toy.train import MIX, draw_examples

    rng = random.Random(1)
    families = set()
    for _ in range(300):
        items = draw_examples(rng)
        family = items[0][1][0]
        families.add(family)
        assert all(scene is items[0][0] and ex[0] == family for scene, ex in items)
        if family == "yes_no":
            assert sorted(ex[2] for _, ex in items) == ["no", "yes"]
            assert all(ex[1]["question"].endswith("Please answer yes or no.") for _, ex in items)
        elif family == "grounding":  # one expression per shape: the image alone cannot tell
            assert sorted(ex[2] for _, ex in items) == sorted(
                s.unit_box() for s in items[0][0].shapes)
        elif family != "vqa":
            assert len(items) == 1
    assert families == {"caption", "vqa", "grounding", "yes_no", "multiple_choice"}
    assert {f for f, _ in MIX} == families | {"select"}  # select renders as a VQA question


def test_select_questions_name_one_shape_and_answer_for_it() -> None:
    """The training-only questions that need the named shape: the answer is that shape's
    colour or kind, asked of every shape of the scene; "is there a <colour> <kind>" comes as
    a pair, yes for the shape's own colour and no for another shape's."""
    import random

    from tools.toy.train import MAKERS

    rng = random.Random(3)
    seen = set()
    for _ in range(300):
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
        examples = MAKERS["select"](scene, rng)
        for family, fields, answer in examples:
            words = fields["question"].rstrip("?").split()
            assert family == "vqa"
            if words[:3] == ["What", "color", "is"]:
                seen.add("color")
                assert [s.color for s in scene.shapes if s.kind == words[-1]] == [answer]
            elif words[:3] == ["What", "shape", "is"]:
                seen.add("shape")
                assert [s.kind for s in scene.shapes if s.color == words[-2]] == [answer]
            else:
                seen.add(answer)
                color, kind = words[-2:]
                both = any(s.color == color and s.kind == kind for s in scene.shapes)
                assert answer == ("yes" if both else "no")
                assert any(s.color == color for s in scene.shapes)  # colour present either way
        answers = sorted(a for _, _, a in examples)
        assert answers in (["no", "yes"], sorted(s.color for s in scene.shapes),
                           sorted(s.kind for s in scene.shapes))  # one question per shape
    assert seen == {"color", "shape", "yes", "no"}
