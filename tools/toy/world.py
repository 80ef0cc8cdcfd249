"""The toy world: 64x64 images of one to three coloured shapes on a plain background.

Every scene is a pure function of an integer seed (``random.Random(seed)``), and so are the
texts about it (captions, questions, expressions). Shapes sit on a 4x4 grid of 16-pixel
cells, have distinct colours and distinct kinds, and never overlap, so every question about
a scene has exactly one right answer. The benchmark writer (:mod:`tools.toy.build`)
and the training script (:mod:`tools.toy.train`) both draw from here.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SIZE = 64
CELL = 16  # shapes sit on a 4x4 grid of cells, one ViT patch each
TRAIN_SEEDS = 1_000_000  # scenes 0 .. TRAIN_SEEDS-1 train; the test splits use larger seeds
COLORS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 220),
          "yellow": (235, 200, 20), "purple": (140, 40, 170)}
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "gray": (128, 128, 128)}
KINDS = ("circle", "square", "triangle")
NUMBER_WORDS = ("zero", "one", "two", "three", "four")


@dataclass(frozen=True)
class Shape:
    """One shape: colour, kind and its box in pixels (x0, y0, x1, y1), x1/y1 exclusive."""

    color: str
    kind: str
    box: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        """'red circle'."""
        return f"{self.color} {self.kind}"

    def unit_box(self) -> str:
        """The box as the model writes it: ``[x0,y0,x1,y1]`` in unit coordinates."""
        return "[" + ",".join(f"{v / SIZE:.2f}" for v in self.box) + "]"


@dataclass(frozen=True)
class Scene:
    """A background colour and its shapes, ordered left to right (then top to bottom)."""

    background: str
    shapes: tuple[Shape, ...]

    def draw(self) -> Image.Image:
        """The scene as an RGB PIL image (no anti-aliasing)."""
        image = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[self.background])
        draw = ImageDraw.Draw(image)
        for shape in self.shapes:
            x0, y0, x1, y1 = shape.box
            fill = COLORS[shape.color]
            if shape.kind == "square":
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
            elif shape.kind == "circle":
                draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
            else:
                draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=fill)
        return image

    def png(self) -> bytes:
        """The scene as PNG bytes (lossless, no metadata: the same bytes every time)."""
        out = io.BytesIO()
        self.draw().save(out, format="PNG", optimize=False, compress_level=9)
        return out.getvalue()

    def cells(self) -> list[tuple[Shape | None, int]]:
        """What each cell of the 4x4 grid shows, row by row: the shape on it (None: the
        background) and which part of the shape it is (0: all of a one-cell shape; 1-4: the
        top-left, top-right, bottom-left, bottom-right quarter of a two-cell one)."""
        side = SIZE // CELL
        cells: list[tuple[Shape | None, int]] = [(None, 0)] * (side * side)
        for shape in self.shapes:
            x0, y0, x1, y1 = (v // CELL for v in shape.box)
            for cy in range(y0, y1):
                for cx in range(x0, x1):
                    part = 0 if x1 - x0 == 1 else 1 + 2 * (cy - y0) + (cx - x0)
                    cells[cy * side + cx] = (shape, part)
        return cells

    def shape_list(self) -> str:
        """'a red circle, a blue square and a green triangle'."""
        names = [f"a {s.name}" for s in self.shapes]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def count_phrase(self) -> str:
        """'two shapes'."""
        n = len(self.shapes)
        return f"{NUMBER_WORDS[n]} shape{'s' if n > 1 else ''}"


def _place(rng: random.Random, sizes: list[int]) -> list[tuple[int, int, int, int]] | None:
    """Non-overlapping cell-aligned boxes of the given sizes (in cells), or None."""
    taken: set[tuple[int, int]] = set()
    boxes = []
    cells = SIZE // CELL
    for size in sizes:
        spots = [(cx, cy) for cy in range(cells - size + 1) for cx in range(cells - size + 1)
                 if not any((cx + i, cy + j) in taken for i in range(size) for j in range(size))]
        if not spots:
            return None
        cx, cy = rng.choice(spots)
        taken.update((cx + i, cy + j) for i in range(size) for j in range(size))
        boxes.append((cx * CELL, cy * CELL, (cx + size) * CELL, (cy + size) * CELL))
    return boxes


def make_scene(seed: int) -> Scene:
    """The scene of ``seed``."""
    rng = random.Random(seed)
    background = rng.choice(sorted(BACKGROUNDS))
    n = rng.choice((1, 2, 2, 3, 3))
    colors = rng.sample(sorted(COLORS), n)
    kinds = rng.sample(KINDS, n)
    boxes = None
    while boxes is None:
        boxes = _place(rng, [rng.choice((1, 1, 2)) for _ in range(n)])
    shapes = sorted((Shape(c, k, b) for c, k, b in zip(colors, kinds, boxes, strict=True)),
                    key=lambda s: (s.box[0], s.box[1]))
    return Scene(background, tuple(shapes))
