"""Grounding boxes: parsing model text, coordinate spaces, expand2square inversion, IoU and the
family's Acc@k against independent implementations."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from infmllm_eval.families.grounding import GROUNDING
from infmllm_eval.metrics.boxes import box_iou, parse_box, square_padding, to_pixels
from infmllm_eval.types import Sample

UNIT_SQUASH = {"box_format": "unit", "image_transform": "squash"}


@pytest.mark.parametrize(("text", "box"), [
    # the two InfMLLM forms, as in the original evaluation
    ("(0.123,0.456),(0.789,0.990)", (0.123, 0.456, 0.789, 0.990)),
    ("[0.12,0.34,0.56,0.78]", (0.12, 0.34, 0.56, 0.78)),
    # spaces (the original regex failed on them) and no comma between the pairs
    ("( 0.1 , 0.2 ) , ( 0.3 , 0.4 )", (0.1, 0.2, 0.3, 0.4)),
    ("(0.1, 0.2) (0.3, 0.4)", (0.1, 0.2, 0.3, 0.4)),
    ("[ 0.1,0.2 , 0.3,  0.4 ]", (0.1, 0.2, 0.3, 0.4)),
    # values 0 and 1 (the original regex needed '0.' + digits), short decimals, integers
    ("[0,0,1,1.0]", (0.0, 0.0, 1.0, 1.0)),
    ("(.5,.25),(1.,0.75)", (0.5, 0.25, 1.0, 0.75)),
    ("<box>(123,456),(789,999)</box>", (123.0, 456.0, 789.0, 999.0)),
    # reversed corners (bottom-right first) and mixed corners: each axis is sorted
    ("(0.7,0.8),(0.1,0.2)", (0.1, 0.2, 0.7, 0.8)),
    ("[0.7,0.2,0.1,0.8]", (0.1, 0.2, 0.7, 0.8)),
    # junk text around the box
    ("<ref>the man</ref> is at [0.1,0.2,0.3,0.4]. Done!", (0.1, 0.2, 0.3, 0.4)),
    ("Sure: (0.1,0.2),(0.3,0.4)</s>", (0.1, 0.2, 0.3, 0.4)),
    # several boxes: the FIRST complete box wins, whichever form each is in
    ("[0.1,0.1,0.2,0.2] and (0.5,0.5),(0.9,0.9)", (0.1, 0.1, 0.2, 0.2)),
    ("(0.5,0.5),(0.9,0.9) then [0.1,0.1,0.2,0.2]", (0.5, 0.5, 0.9, 0.9)),
    ("(0.1,0.2),(0.3,0.4),(0.5,0.6),(0.7,0.8)", (0.1, 0.2, 0.3, 0.4)),
    # an incomplete box before a complete one is skipped
    ("(0.9,0.9) is wrong, the box is [0.1,0.2,0.3,0.4]", (0.1, 0.2, 0.3, 0.4)),
])
def test_parse_box(text: str, box: tuple[float, ...]) -> None:
    assert parse_box(text) == pytest.approx(box)


@pytest.mark.parametrize("text", [
    "", "I cannot find it.", "(0.1,0.2)", "[0.1,0.2,0.3]", "[0.1;0.2;0.3;0.4]",
    "[-0.1,0.2,0.3,0.4]", "0.1,0.2,0.3,0.4", "(0.1,0.2,0.3,0.4)", "[a,b,c,d]",
    "[0.1,0.2,0.3,0.4,0.5]",
])
def test_unparsable_text(text: str) -> None:
    assert parse_box(text) is None


@pytest.mark.parametrize(("box", "fmt", "transform", "size", "pixels"), [
    ((0.25, 0.5, 0.75, 1.0), "unit", "squash", (640, 480), (160, 240, 480, 480)),
    ((250, 500, 750, 1000), "thousand", "squash", (640, 480), (160, 240, 480, 480)),
    ((10, 20, 30, 40), "pixels", "squash", (640, 480), (10, 20, 30, 40)),
    # landscape 640x480: square side 640, image pasted 80 px down
    ((0.25, 0.25, 0.75, 0.75), "unit", "expand2square", (640, 480), (160, 80, 480, 400)),
    ((250, 250, 750, 750), "thousand", "expand2square", (640, 480), (160, 80, 480, 400)),
    ((160, 160, 480, 480), "pixels", "expand2square", (640, 480), (160, 80, 480, 400)),
    # portrait 300x500: square side 500, image pasted 100 px right
    ((0.3, 0.1, 0.5, 0.9), "unit", "expand2square", (300, 500), (50, 50, 150, 450)),
    ((150, 50, 250, 450), "pixels", "expand2square", (300, 500), (50, 50, 150, 450)),
    # a square image needs no padding
    ((0.5, 0.5, 1.0, 1.0), "unit", "expand2square", (200, 200), (100, 100, 200, 200)),
])
def test_coordinate_spaces(box: tuple[float, float, float, float], fmt: str, transform: str,
                           size: tuple[int, int], pixels: tuple[float, ...]) -> None:
    assert to_pixels(box, fmt, transform, *size) == pytest.approx(pixels)


@pytest.mark.parametrize(("box", "fmt", "transform"), [
    ((0.1, 0.1, 1.3, 0.5), "unit", "squash"),
    ((0.1, 0.1, 0.5, 1.01), "unit", "expand2square"),
    ((1, 1, 1001, 500), "thousand", "squash"),
    ((0, 0, 641, 10), "pixels", "squash"),        # wider than the 640 px image
    ((0, 0, 10, 481), "pixels", "squash"),
    ((0, 0, 10, 641), "pixels", "expand2square"),  # beyond the 640 px padded square
])
def test_out_of_range_boxes_are_refused(box: tuple[float, float, float, float], fmt: str,
                                        transform: str) -> None:
    assert to_pixels(box, fmt, transform, 640, 480) is None


def test_expand2square_padding_is_centred_and_floored() -> None:
    assert square_padding(640, 480) == (640, 0, 80)
    assert square_padding(480, 640) == (640, 80, 0)
    assert square_padding(641, 480) == (641, 0, 80)  # (641 - 480) // 2 = 80, not 80.5
    assert square_padding(300, 300) == (300, 0, 0)


def _pad_like_llava(img: Image.Image) -> Image.Image:
    """expand2square as LLaVA does it: paste on a (side x side) canvas, centred, floored."""
    w, h = img.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), (122, 116, 104))
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


@pytest.mark.parametrize(("size", "box"), [
    ((640, 480), (100, 30, 390, 470)),    # landscape
    ((480, 640), (20, 200, 470, 611)),    # portrait
    ((333, 500), (0, 0, 333, 500)),       # portrait, odd padding, whole image
    ((500, 217), (499, 1, 500, 217)),     # landscape, odd padding, thin box at the edge
])
def test_expand2square_box_maps_back_exactly(size: tuple[int, int],
                                             box: tuple[int, int, int, int]) -> None:
    """Draw the box on the image, pad the image to a square, read the box off the square in
    unit coordinates (what a chat model answers) and map it back: the original box again."""
    img = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(img).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(255, 0, 0))
    square = _pad_like_llava(img)
    red = Image.eval(square.getchannel("R"), lambda v: 255 if v == 255 else 0)
    drawn = red.getbbox()
    assert drawn is not None
    side = square.size[0]
    unit = (drawn[0] / side, drawn[1] / side, drawn[2] / side, drawn[3] / side)
    assert to_pixels(unit, "unit", "expand2square", *size) == pytest.approx(box, abs=1e-9)
    assert to_pixels(drawn, "pixels", "expand2square", *size) == pytest.approx(box, abs=1e-9)
    thousand = (1000 * unit[0], 1000 * unit[1], 1000 * unit[2], 1000 * unit[3])
    assert to_pixels(thousand, "thousand", "expand2square", *size) == pytest.approx(box,
                                                                                    abs=1e-9)


def _raster_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """IoU by counting unit cells on a grid (integer boxes)."""
    grid_a = np.zeros((40, 40), bool)
    grid_b = np.zeros((40, 40), bool)
    grid_a[a[1]:a[3], a[0]:a[2]] = True
    grid_b[b[1]:b[3], b[0]:b[2]] = True
    union = (grid_a | grid_b).sum()
    return float((grid_a & grid_b).sum() / union) if union else 0.0


def _random_int_box(rng: random.Random) -> tuple[int, int, int, int]:
    x1, x2 = sorted(rng.randint(0, 40) for _ in range(2))
    y1, y2 = sorted(rng.randint(0, 40) for _ in range(2))
    return x1, y1, x2, y2


def test_iou_matches_raster_counting_on_random_integer_boxes() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        a, b = _random_int_box(rng), _random_int_box(rng)
        assert box_iou(a, b) == pytest.approx(_raster_iou(a, b), rel=1e-12, abs=1e-15)


def test_iou_basic_cases() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0        # touching: no overlap
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)  # no +1
    assert box_iou((3, 3, 3, 3), (3, 3, 3, 3)) == 0.0             # empty union


def _sample(i: int, width: int, height: int, target: list[float]) -> Sample:
    return Sample(i, None, {"expression": f"thing {i}"}, target,
                  {"width": width, "height": height, "split": "val"})


def test_acc_and_mean_iou_match_an_independent_computation() -> None:
    """Random unit boxes squashed to random image sizes, scored by the family and by a
    vectorised numpy computation written from the rules."""
    rng = np.random.default_rng(7)
    n = 3000
    sizes = rng.integers(50, 1000, size=(n, 2)).astype(float)
    gt_unit = np.sort(rng.random((n, 2, 2)), axis=1)           # [sample, corner, axis]
    jitter = rng.normal(0, 0.08, size=(n, 2, 2))
    pred_unit = np.clip(np.sort(gt_unit + jitter, axis=1), 0, 1)
    scale = sizes[:, None, :]
    gt_px, pred_px = gt_unit * scale, pred_unit * scale
    samples = [_sample(i, int(sizes[i, 0]), int(sizes[i, 1]), list(gt_px[i].reshape(-1)))
               for i in range(n)]
    preds = {str(i): "[{:.6f},{:.6f},{:.6f},{:.6f}]".format(*pred_unit[i].reshape(-1))
             for i in range(n)}
    preds["0"] = "no idea"
    got = GROUNDING.score(samples, preds, UNIT_SQUASH)

    pred_px = np.round(pred_unit, 6) * scale
    lo, hi = np.maximum(gt_px[:, 0], pred_px[:, 0]), np.minimum(gt_px[:, 1], pred_px[:, 1])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    gt_area = np.prod(gt_px[:, 1] - gt_px[:, 0], axis=1)
    pred_area = np.prod(pred_px[:, 1] - pred_px[:, 0], axis=1)
    iou = inter / (gt_area + pred_area - inter)
    iou[0] = 0.0
    assert got.parse_failures == 1
    assert got.metrics["mean_iou"] == pytest.approx(100 * iou.mean(), rel=1e-9)
    for k in (0.3, 0.5, 0.7, 0.9):
        assert got.metrics[f"acc@{k}"] == pytest.approx(100 * (iou >= k).mean(), rel=1e-12)
    assert 20 < got.metrics["acc@0.5"] < 95  # the random boxes exercise both outcomes
    assert [r.score for r in got.per_sample] == [100.0 * (v >= 0.5) for v in iou]


def test_family_counts_failures_and_missing_apart() -> None:
    samples = [_sample(i, 100, 50, [0, 0, 50, 25]) for i in range(4)]
    preds: dict[str, str | None] = {"0": "[0,0,0.5,0.5]", "1": "[0,0,1.5,0.5]",
                                    "2": "nothing"}  # "3" is missing
    got = GROUNDING.score(samples, preds, UNIT_SQUASH)
    assert got.metrics["acc@0.5"] == 25.0
    assert got.parse_failures == 2  # out of range and no box; the missing one is not a failure
    first = got.per_sample[0]
    assert first.extra == {"box": [0.0, 0.0, 50.0, 25.0], "iou": 1.0}
    assert got.per_sample[1].extra == {"box": None, "iou": 0.0}
    assert got.breakdown == {"split": {"val": 25.0}}
    assert GROUNDING.request_fields(samples[1]) == {"expression": "thing 1"}
    assert GROUNDING.submission(samples[:2], preds, UNIT_SQUASH) == [
        {"sent_id": 0, "box": [0.0, 0.0, 50.0, 25.0]}, {"sent_id": 1, "box": None}]
