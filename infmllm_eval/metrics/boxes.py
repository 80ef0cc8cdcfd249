"""Boxes in model output: parsing, conversion back to original-image pixels, and IoU.

Accepted forms (anywhere in the text, spaces allowed around every number and comma):
``(x1,y1),(x2,y2)`` (the two pairs may be separated by a comma and/or spaces) and
``[x1,y1,x2,y2]``. Numbers are unsigned decimals (``0.12``, ``.5``, ``1``, ``873``). When the
text holds several boxes, the FIRST complete box wins (the original InfMLLM regex instead
combined the first pair with the last one). Corners may come in any order: each axis is sorted.

Coordinate spaces (``box_format``): ``unit`` (0-1), ``thousand`` (0-1000) and ``pixels``; all
are first mapped to the unit square of the image the model saw, then back to pixels of the
ORIGINAL image by inverting the model's preprocessing (``image_transform``):

- ``squash``: the image was resized to a square without keeping its aspect ratio, so
  x -> x * W and y -> y * H.
- ``expand2square`` (LLaVA style): the image was first pasted on a square canvas of side
  S = max(W, H) at offset ((S - W) // 2, (S - H) // 2), then resized, so
  x -> x * S - dx and y -> y * S - dy (a box in the padding stays outside the image: no clipping).

For ``pixels`` the unit square is the original image (squash) or the padded square (expand2square)
at original resolution. A value outside the space's range makes the box unparsable.
"""

from __future__ import annotations

import re

Box = tuple[float, float, float, float]

BOX_FORMATS = ("unit", "thousand", "pixels")
IMAGE_TRANSFORMS = ("squash", "expand2square")
ACC_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)

_NUM = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"
_PAIRS = rf"\({_NUM},{_NUM}\)\s*,?\s*\({_NUM},{_NUM}\)"
_LIST = rf"\[{_NUM},{_NUM},{_NUM},{_NUM}\]"
_BOX_RE = re.compile(rf"{_PAIRS}|{_LIST}")


def parse_box(text: str) -> Box | None:
    """The first box written in ``text`` as (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, in
    the model's own coordinate space; None when there is no complete box."""
    found = _BOX_RE.search(text)
    if found is None:
        return None
    values = [float(v) for v in found.groups() if v is not None]
    x1, y1, x2, y2 = values
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def square_padding(width: float, height: float) -> tuple[float, float, float]:
    """(side, dx, dy) of LLaVA's expand2square: the image is pasted at (dx, dy) on a square of
    side max(W, H); the offset is floored on integer sizes as PIL's paste needs whole pixels."""
    side = max(width, height)
    return side, (side - width) // 2, (side - height) // 2


def to_pixels(box: Box, box_format: str, transform: str, width: float, height: float,
              ) -> Box | None:
    """Map a parsed box to pixels of the original W x H image; None when a coordinate is
    outside the declared space (e.g. 1.3 in ``unit``)."""
    if transform == "squash":
        scale_x, scale_y, dx, dy = float(width), float(height), 0.0, 0.0
    elif transform == "expand2square":
        side, dx, dy = square_padding(width, height)
        scale_x = scale_y = float(side)
    else:
        raise ValueError(f"unknown image_transform {transform!r}")
    if box_format == "unit":
        frame_x = frame_y = 1.0
    elif box_format == "thousand":
        frame_x = frame_y = 1000.0
    elif box_format == "pixels":
        frame_x, frame_y = scale_x, scale_y
    else:
        raise ValueError(f"unknown box_format {box_format!r}")
    x1, y1, x2, y2 = box
    if x2 > frame_x or y2 > frame_y or min(box) < 0:
        return None
    if box_format == "pixels":
        return x1 - dx, y1 - dy, x2 - dx, y2 - dy
    ux, uy = scale_x / frame_x, scale_y / frame_y
    return x1 * ux - dx, y1 * uy - dy, x2 * ux - dx, y2 * uy - dy


def xywh_to_xyxy(x: float, y: float, w: float, h: float) -> Box:
    """COCO [x, y, w, h] to corners."""
    return x, y, x + w, y + h


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two xyxy boxes with plain areas (no +1); 0 when the union
    is empty. Boxes must have x1 <= x2 and y1 <= y2."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
