"""Card validation, registry lookups and group expansion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infmllm_eval.cards import generation_with, load_task_card, task_cards
from infmllm_eval.catalog import resolve_model, resolve_task, resolve_tasks
from infmllm_eval.errors import CardError, UnknownNameError
from infmllm_eval.types import GenerationConfig

GOOD = """\
name: mini
family: vqa
loader: vqa
split: val
size: 3
primary_metric: accuracy
files:
  questions: q.json
"""


def write(tmp_path: Path, text: str, name: str = "mini") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_good_card_loads(tmp_path: Path) -> None:
    card = load_task_card(write(tmp_path, GOOD + "generation:\n  max_new_tokens: 5\n"))
    assert card.files == {"questions": "q.json"}
    assert card.generation.max_new_tokens == 5


@pytest.mark.parametrize(("extra", "message"), [
    ("colour: red\n", "unknown field 'colour'"),
    ("groups: vqa\n", "field 'groups': expected list"),
    ("generation:\n  beams: 5\n", "unknown field 'generation.beams'"),
    ("generation:\n  max_new_tokens: ten\n", "field 'generation.max_new_tokens': expected int"),
    ("options:\n  nested: {a: 1}\n", "field 'options.nested'"),
])
def test_card_errors_name_file_and_field(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(CardError, match=message) as info:
        load_task_card(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("size: 3", "size: three", "field 'size': expected int, got str"),
    ("size: 3", "size: true", "field 'size': expected int, got bool"),
    ("split: val\n", "", "missing required field 'split'"),
    ("name: mini", "name: other", "must equal the file name"),
    ("family: vqa", "family: vqaa", "unknown family 'vqaa'. Did you mean 'vqa'"),
    ("q.json", "../../etc/passwd", "must be relative to the data root"),
    ("q.json", "/abs/q.json", "must be relative to the data root"),
    ("files:\n", "files: [\n", "invalid YAML"),
])
def test_card_field_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(CardError, match=message):
        load_task_card(write(tmp_path, GOOD.replace(old, new)))


@pytest.mark.parametrize(("setting", "value", "card_error", "override"), [
    ("num_beams", 3, None, 3),
    ("temperature", 0, None, 0),  # an int is a number
    ("do_sample", True, None, True),
    ("num_beams", "3", "field 'generation.num_beams': expected int, got str", 3),
    ("do_sample", "yes", "field 'generation.do_sample': expected bool, got str", True),
    ("num_beams", True, "field 'generation.num_beams': expected int, got bool",
     "num_beams=True is not an integer"),
    ("do_sample", 1, "field 'generation.do_sample': expected bool, got int",
     "do_sample=1 is not true or false"),
    ("beams", 3, "unknown field 'generation.beams' (allowed: max_new_tokens,",
     "unknown generation setting 'beams' (allowed: max_new_tokens,"),
])
def test_card_and_override_generation_share_one_check(
        tmp_path: Path, setting: str, value: object, card_error: str | None,
        override: object) -> None:
    """A card's generation block takes typed values only; an override (``--generation``, a
    model card applied to a task) also parses strings. Names and types are checked alike."""
    text = GOOD + f"generation:\n  {setting}: {value!r}\n".replace("'", '"')
    if card_error is None:
        assert getattr(load_task_card(write(tmp_path, text)).generation, setting) == value
    else:
        with pytest.raises(CardError, match=re.escape(card_error)):
            load_task_card(write(tmp_path, text))
    if isinstance(override, str):
        with pytest.raises(CardError, match=re.escape(f"where: {override}")):
            generation_with(GenerationConfig(), {setting: value}, "where")
    else:
        got = generation_with(GenerationConfig(), {setting: value}, "where")
        assert getattr(got, setting) == override


def test_builtin_cards_are_valid() -> None:
    cards = task_cards()
    assert {"vqav2_val", "vqav2_testdev", "okvqa_val", "textvqa_val",
            "gqa_testdev_balanced"} <= set(cards)
    assert cards["vqav2_val"].size == 214_354
    assert cards["textvqa_val"].options["normalization"] == "evalai"
    assert cards["vqav2_val"].options["normalization"] == "always"


def test_groups_expand() -> None:
    assert [c.name for c in resolve_tasks("vqav2")] == ["vqav2_val"]
    names = [c.name for c in resolve_tasks(["vqav2,gqa", "vqav2_val"])]
    assert names == ["vqav2_val", "gqa_testdev_balanced"]
    assert "vqav2_testdev" not in [c.name for c in resolve_tasks("vqa")]


def test_unknown_names_suggest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'vqav2_val'"):
        resolve_tasks("vqav2_vall")
    with pytest.raises(UnknownNameError, match="Did you mean 'scripted'"):
        resolve_model("scriptd")
    with pytest.raises(UnknownNameError, match="is a group"):
        resolve_task("vqav2")


def test_extra_card_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tasks").mkdir()
    write(tmp_path / "tasks", GOOD)
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp_path))
    assert resolve_task("mini").size == 3


def test_mission_example_groups() -> None:
    names = [c.name for c in resolve_tasks("refcoco,vqav2")]  # groups keep the order given
    assert sorted(names[:3]) == ["refcoco_testA", "refcoco_testB", "refcoco_val"]
    assert names[3] == "vqav2_val"
    assert {c.name for c in resolve_tasks("refcoco+")} == {
        "refcocoplus_val", "refcocoplus_testA", "refcocoplus_testB"}
