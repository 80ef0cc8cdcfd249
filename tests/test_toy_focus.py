"""The toy trainer's attention supervision (tools.toy.focus): which shape an example
names, which positions are supervised, and that the loss scores the model's real attention."""

from __future__ import annotations

import random

import pytest
import torch

from tools.toy import questions as q
from tools.toy.focus import (
    FOCUS_HEAD,
    FOCUS_LAYER,
    HEADS,
    Focus,
    FocusLoss,
    Item,
    focus_cells,
    focus_shape,
    shape_targets,
    word_targets,
)
from tools.toy.train import MAKERS, Batcher, build_model, draw_batch
from tools.toy.world import TRAIN_SEEDS, Scene, Shape, make_scene


def scene_with(count: int, seed: int = 0) -> Scene:
    rng = random.Random(seed)
    while True:
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
        if len(scene.shapes) == count:
            return scene


def test_focus_is_the_shape_with_every_named_kind_and_colour() -> None:
    scene = scene_with(3)
    first, second, third = scene.shapes
    assert focus_shape(scene, {"question": q.color_question(second.kind)}) == (True, second)
    assert focus_shape(scene, {"question": q.shape_question(third.color)}) == (True, third)
    assert focus_shape(scene, {"expression": f"the {first.color} one"}) == (True, first)
    assert focus_shape(scene, {"expression": f"the {first.color} {first.kind}"}) == (True, first)
    # another shape's colour with this kind (the "no" of an MME colour pair): nothing fits
    other = f"Is there a {third.color} {first.kind} in the image? Please answer yes or no."
    assert focus_shape(scene, {"question": other}) == (True, None)
    for fields in ({}, {"question": "How many shapes are there?"},
                   {"question": "What color is the background?"}):
        assert focus_shape(scene, fields) == (False, None)


def test_every_drawn_example_that_names_a_shape_focuses_on_the_one_its_answer_is_about() -> None:
    """Grounding: the focus shape's box is the answer; select and MMBench: its colour or kind
    is; yes/no colour pairs and "is there": a shape exactly when the answer is yes."""
    rng, seen = random.Random(2), set()
    for _ in range(400):
        scene = make_scene(rng.randrange(TRAIN_SEEDS))
        family = rng.choice(sorted(MAKERS))
        for name, fields, answer in MAKERS[family](scene, rng):
            names, shape = focus_shape(scene, fields)
            text = fields.get("question") or fields.get("expression") or ""
            if not names:
                assert name in ("caption", "vqa", "multiple_choice", "yes_no"), fields
                assert not any(s.kind in text or s.color in text for s in scene.shapes)
                continue
            seen.add((name, shape is None))
            if name == "grounding":
                assert shape is not None and answer == shape.unit_box()
            elif answer in ("yes", "no"):
                assert (shape is not None) == (answer == "yes")
            else:
                assert shape is not None and answer in (shape.color, shape.kind)
    assert seen == {("grounding", False), ("vqa", False), ("vqa", True), ("yes_no", False),
                    ("yes_no", True), ("multiple_choice", False)}


def test_focus_cells_are_the_grid_cells_a_shape_covers() -> None:
    big = Shape("red", "square", (16, 32, 48, 64))  # columns 1-2, rows 2-3
    small = Shape("blue", "circle", (0, 0, 16, 16))
    scene = Scene("white", (small, big))
    assert focus_cells(scene, big) == [9, 10, 13, 14]
    assert focus_cells(scene, small) == [0]
    assert focus_cells(scene, Shape("red", "circle", (0, 0, 16, 16))) == []  # not in the scene


def test_targets_cover_each_answer_position_and_point_at_the_shape_or_the_start() -> None:
    model, style, tok = build_model(0)
    batcher = Batcher(model, style, tok)
    items = draw_batch(random.Random(5), 48)
    _, _, labels, spans = batcher.batch(items)
    targets = shape_targets(items, spans)
    assert targets
    for row, query, keys in targets:
        scene, (_, fields, _) = items[row]
        visual, _, answer, length = spans[row]
        names, shape = focus_shape(scene, fields)
        assert names
        if shape is None:
            assert keys == [0]  # the start token
        else:
            assert keys == [visual + cell for cell in focus_cells(scene, shape)]
        assert answer - 1 <= query < answer - 1 + length
        assert labels[row, query + 1] != -100  # the position predicts an answer token
    assert {keys == [0] for _, _, keys in targets} == {True, False}  # shapes and "none fits"
    rows = {row for row, _, _ in targets}
    named = {i for i, (scene, (_, fields, _)) in enumerate(items)
             if focus_shape(scene, fields)[0]}
    assert rows == named
    for row in rows:  # every answer token and the EOS
        assert sum(t[0] == row for t in targets) == spans[row].length


def test_loss_scores_the_heads_real_attention() -> None:
    """Cross-entropy against the attention of layer FOCUS_LAYER, head FOCUS_HEAD as the
    model's own eager attention returns it."""
    model, style, tok = build_model(1)
    model.lm_model.config._attn_implementation = "eager"
    items = draw_batch(random.Random(7), 8)
    embeds, mask, _, spans = Batcher(model, style, tok).batch(items)
    focus = FocusLoss(model)
    with torch.no_grad():
        out = model.lm_model(inputs_embeds=embeds, attention_mask=mask, output_attentions=True,
                             use_cache=False)
        targets = shape_targets(items, spans)
        attention = out.attentions[FOCUS_LAYER][:, FOCUS_HEAD]
        expected = torch.stack([-attention[row, query, keys].log().mean()
                                for row, query, keys in targets]).mean()
        assert float(focus(targets)) == pytest.approx(float(expected), rel=1e-5)
    focus.remove()
    assert not model.lm_model.model.layers[FOCUS_LAYER].self_attn._forward_pre_hooks


def test_training_on_the_loss_moves_the_head_onto_the_named_shape() -> None:
    model, style, tok = build_model(2)
    batcher = Batcher(model, style, tok)
    items = [item for item in draw_batch(random.Random(3), 32, 2)
             if item[1][0] == "grounding"]
    embeds, mask, _, spans = batcher.batch(items)
    embeds = embeds.detach()  # the images' graph once is enough: only the LLM learns here
    focus = FocusLoss(model)
    targets = shape_targets(items, spans)
    optim = torch.optim.Adam(model.lm_model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        model.forward_embeds(embeds, mask)
        loss = focus(targets)
        optim.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_loss_needs_a_forward_pass_and_is_zero_without_targets() -> None:
    model, style, tok = build_model(0)
    focus = FocusLoss(model)
    with pytest.raises(RuntimeError, match="forward pass"):
        focus([])
    embeds, mask, _, _ = Batcher(model, style, tok).batch(
        [(scene_with(1), ("caption", {}, "a red circle on a white background"))])
    model.forward_embeds(embeds, mask)
    assert float(focus([])) == 0.0


def test_word_heads_point_at_the_named_word_not_at_an_option() -> None:
    """The kind and colour heads look at the word of the question or expression; a
    multiple-choice question's options (which list kinds or colours) are not targets."""
    model, style, tok = build_model(0)
    focus = Focus(model, tok)
    scene = scene_with(2)
    first, second = scene.shapes
    items: list[Item] = [(scene, ("grounding", {"expression": f"the {first.color} {first.kind}"},
                      first.unit_box())),
             (scene, ("multiple_choice", {"question": q.shape_question(second.color), "hint": "",
                                          "options": [["A", "star"], ["B", second.kind],
                                                      ["C", first.kind], ["D", "x"]]},
                      second.kind)),
             (scene, ("caption", {}, "two shapes"))]
    _, _, labels, spans = Batcher(model, style, tok).batch(items)
    for what, expected in (("kind", {0: first.kind}), ("color", {0: first.color,
                                                                 1: second.color})):
        targets = word_targets(items, spans, focus.ids[what])
        assert {row for row, _, _ in targets} == set(expected)
        for row, query, keys in targets:
            span = spans[row]
            (key,) = keys
            assert tok.decode([span.text[key - (span.answer - len(span.text))]]) == expected[row]
            assert key < query and labels[row, query + 1] != -100
    assert [what for _, _, what in HEADS] == ["shape", "kind", "color"]
    focus.remove()
