"""The toy benchmark generator: deterministic bytes, the official formats, the cards' sizes."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from infmllm_eval.catalog import groups, resolve_task
from infmllm_eval.data.safe_pickle import load_plain_pickle
from infmllm_eval.taskspec import build_task, load_samples
from infmllm_eval.toy import DATA_ROOT, TASKS
from tools.toy.build import build
from tools.toy.world import BACKGROUNDS, COLORS, SIZE, Scene, Shape, make_scene


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_build_is_deterministic_and_matches_the_committed_data(tmp_path: Path) -> None:
    first, second = _tree(build(tmp_path / "a")), _tree(build(tmp_path / "b"))
    assert first == second
    assert first == _tree(DATA_ROOT), "committed toy data is stale: rerun toy.build"
    assert sum(map(len, first.values())) < 5_000_000


def test_train_split_differs_from_test(tmp_path: Path) -> None:
    train = json.loads((build(tmp_path, "train") / "caption/dataset_toy.json").read_text())
    test = json.loads((DATA_ROOT / "caption/dataset_toy.json").read_text())
    assert {i["split"] for i in train["images"]} == {"train"}
    assert not {i["cocoid"] for i in train["images"]} & {i["cocoid"] for i in test["images"]}


def test_scene_is_a_function_of_its_seed() -> None:
    assert make_scene(7) == make_scene(7) and make_scene(7).png() == make_scene(7).png()
    scene = make_scene(12345)
    for a in scene.shapes:
        assert 0 <= a.box[0] < a.box[2] <= SIZE and 0 <= a.box[1] < a.box[3] <= SIZE
        for b in scene.shapes:
            if a is not b:  # shapes never overlap
                assert a.box[2] <= b.box[0] or b.box[2] <= a.box[0] or \
                    a.box[3] <= b.box[1] or b.box[3] <= a.box[1]
    assert len({s.color for s in scene.shapes}) == len({s.kind for s in scene.shapes}) \
        == len(scene.shapes)


def test_cells_name_the_shape_and_part_on_each_grid_cell() -> None:
    small, big = Shape("red", "circle", (0, 0, 16, 16)), Shape("blue", "square", (32, 16, 64, 48))
    scene = Scene("gray", (small, big))
    cells = scene.cells()
    assert len(cells) == 16
    assert cells[0] == (small, 0)
    assert [cells[i] for i in (6, 7, 10, 11)] == [(big, 1), (big, 2), (big, 3), (big, 4)]
    assert {i for i, c in enumerate(cells) if c == (None, 0)} == \
        set(range(16)) - {0, 6, 7, 10, 11}
    # the pixels agree: each cell's centre has its shape's colour, else the background's
    image = scene.draw()
    for i, (shape, _) in enumerate(cells):
        centre = image.getpixel((i % 4 * 16 + 8, i // 4 * 16 + 8))
        assert centre == (COLORS[shape.color] if shape else BACKGROUNDS[scene.background])


def test_toy_group_lists_every_card() -> None:
    assert sorted(groups()["toy"]) == sorted(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_every_toy_card_loads_its_declared_size(task: str) -> None:
    card = resolve_task(task)
    samples = load_samples(build_task(card, DATA_ROOT))
    assert len(samples) == card.size
    assert all(s.image for s in samples)


def test_official_file_shapes() -> None:
    karpathy = json.loads((DATA_ROOT / "caption/dataset_toy.json").read_text())
    assert all(len(i["sentences"]) == 5 and i["sentences"][0]["raw"] for i in karpathy["images"])
    anns = json.loads((DATA_ROOT / "vqa/annotations.json").read_text())["annotations"]
    assert all(len(a["answers"]) == 10 for a in anns)
    refs = load_plain_pickle(DATA_ROOT / "refer/refs(umd).p", "refs pickle")
    assert {r["split"] for r in refs} == {"test"}
    instances = json.loads((DATA_ROOT / "refer/instances.json").read_text())
    assert {(i["width"], i["height"]) for i in instances["images"]} == {(SIZE, SIZE)}
    for subtask in ("color", "count"):
        folder = DATA_ROOT / "mme/MME_Benchmark" / subtask
        texts = sorted((folder / "questions_answers_YN").glob("*.txt"))
        assert len(texts) == 40 and len(list((folder / "images").glob("*.png"))) == 40
        answers = [line.split("\t")[1] for t in texts for line in t.read_text().splitlines()]
        assert Counter(answers) == {"Yes": 40, "No": 40}  # a Yes and a No per image


def test_mmbench_rows_carry_circular_passes() -> None:
    samples = load_samples(build_task(resolve_task("toy_mmbench"), DATA_ROOT))
    by_group: dict[int, list[str]] = {}
    for s in samples:
        by_group.setdefault(s.meta["group"], []).append(s.fields["options"][ord(s.targets) - 65][1])
    assert len(by_group) == 60
    assert all(len(v) == 4 and len(set(v)) == 1 for v in by_group.values())  # same right text
    uri = samples[0].image or ""
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(__import__("io").BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.size == (SIZE, SIZE)


def test_grounding_targets_are_the_drawn_boxes() -> None:
    samples = load_samples(build_task(resolve_task("toy_grounding"), DATA_ROOT))
    for s in samples[:20]:
        scene = make_scene(int(s.meta["image_id"]))
        assert tuple(s.targets) in {tuple(map(float, sh.box)) for sh in scene.shapes}


def test_toy_tokenizer_rebuilds_byte_for_byte_and_keeps_toy_words_whole(tmp_path: Path) -> None:
    from infmllm_eval.modeling.tokenizer import load_tokenizer
    from tools.toy.tokenizer import TOY_TOKENIZER, WORDS, train

    rebuilt = train(tmp_path)
    shipped = TOY_TOKENIZER / "tokenizer.model"
    assert rebuilt.read_bytes() == shipped.read_bytes(), "stale: rerun toy.tokenizer"
    tok = load_tokenizer(shipped)
    for word in WORDS:
        assert len(tok.encode(f"the {word}")) == 2, word
    text = "Is there a purple star? [0.25,0.50,0.75,1.00] 是"
    assert tok.decode(tok.encode(text)) == text  # byte fallback: nothing is lost
    assert max(tok.encode(text)) < 512  # the card's vocabulary
