"""Inputs of the bad-input corpus that are made at test time rather than committed: images
(every colour mode, EXIF orientations, decompression-bomb headers), pickles that name globals,
checkpoints and deeply nested JSON. Each generator writes the file ``out``; cases.json names
the generator and its arguments (strings, with the {case}/{valid}/{tmp} placeholders filled)."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

EXIF_ORIENTATION = 0x0112


def _rgb(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def solid_image(out: str, mode: str, size: str, color: str) -> None:
    """A one-colour image of ``mode`` (L, LA, CMYK, 1, RGB, ...): color "r,g,b[,a]" or "v";
    the format follows the file suffix."""
    width, height = _rgb(size)
    value = _rgb(color)
    Image.new(mode, (width, height), value if len(value) > 1 else value[0]).save(out)


def gray16_png(out: str) -> None:
    """16-bit grayscale 30x20: the left half 65535 (white), the right half 32768 (mid grey)."""
    row = struct.pack("<30H", *([65535] * 15 + [32768] * 15))
    Image.frombytes("I;16", (30, 20), row * 20).save(out)


def half_transparent_rgba(out: str) -> None:
    """RGBA 30x20: opaque red left half, fully transparent black right half."""
    img = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 15, 20))
    img.save(out)


def palette_png(out: str, transparent: str = "") -> None:
    """Palette (P) image 30x20: index 0 = red (left half), 1 = blue (right half); with
    ``transparent`` the blue index is the transparent one."""
    img = Image.new("P", (30, 20), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (15, 0, 30, 20))
    if transparent:
        img.save(out, transparency=1)
    else:
        img.save(out)


def exif_rotated_jpeg(out: str, orientation: str) -> None:
    """A 40x20 JPEG stored with its top half red and bottom half green, tagged with EXIF
    ``orientation`` (3 = 180°, 6 = display rotated 90° clockwise, 8 = 90° counter-clockwise)."""
    img = Image.new("RGB", (40, 20), (0, 255, 0))
    img.paste((255, 0, 0), (0, 0, 40, 10))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = int(orientation)
    img.save(out, exif=exif.tobytes(), quality=95)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_header(out: str, width: str, height: str) -> None:
    """A valid PNG signature and IHDR claiming width x height RGB pixels, with an empty IDAT:
    a decoder that trusted it would allocate width*height*3 bytes."""
    ihdr = struct.pack(">IIBBBBB", int(width), int(height), 8, 2, 0, 0, 0)
    Path(out).write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                          + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b""))


def jpeg_header(out: str, width: str, height: str) -> None:
    """A small real JPEG whose SOF0 marker is patched to claim width x height pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", int(height), int(width))
    Path(out).write_bytes(bytes(data))


def truncated(out: str, src: str, keep: str) -> None:
    """The first ``keep`` bytes of ``src`` (a fraction such as 0.5, or a byte count)."""
    data = Path(src).read_bytes()
    count = int(len(data) * float(keep)) if "." in keep else int(keep)
    Path(out).write_bytes(data[:count])


def zero_bytes(out: str) -> None:
    """An empty file."""
    Path(out).write_bytes(b"")


def deep_json(out: str, prefix: str, depth: str, suffix: str) -> None:
    """``prefix`` + depth nested lists + ``suffix`` (e.g. inside an object)."""
    count = int(depth)
    Path(out).write_text(prefix + "[" * count + "]" * count + suffix, encoding="utf-8")


def pickle_json(out: str, src: str) -> None:
    """A protocol-2 pickle of the plain data in the JSON file ``src`` (like a refs(unc).p)."""
    data = json.loads(Path(src).read_text(encoding="utf-8"))
    Path(out).write_bytes(pickle.dumps(data, protocol=2))


def pickle_calling(out: str, module: str, name: str, argument: str, protocol: str) -> None:
    """A hand-written pickle that calls module.name(argument) when loaded by a plain
    unpickler: GLOBAL + REDUCE (protocol 0) or STACK_GLOBAL + REDUCE (protocol 4)."""
    if protocol == "0":
        body = (b"c" + module.encode() + b"\n" + name.encode() + b"\n(V"
                + argument.encode("raw_unicode_escape") + b"\ntR.")
    else:
        def text(value: str) -> bytes:
            raw = value.encode()
            return b"\x8c" + bytes([len(raw)]) + raw
        body = b"\x80\x04" + text(module) + text(name) + b"\x93" + text(argument) + b"\x85R."
    Path(out).write_bytes(body)


def pickle_persistent_id(out: str) -> None:
    """A protocol-2 pickle of a list holding a persistent id (resolved by user code)."""
    Path(out).write_bytes(b"\x80\x02]q\x00Pfoo\nq\x01a.")


class _RunsCode:
    """Pickles as a call of os.system: what a malicious checkpoint holds."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return os.system, (self.command,)


def torch_checkpoint(out: str, kind: str, argument: str = "") -> None:
    """A .pth made by torch.save: ``code`` (an object that runs os.system(argument) when
    unpickled), ``small`` (one tensor), ``non_tensor`` (a state dict holding an int)."""
    import torch

    payload: dict[str, Any]
    if kind == "code":
        payload = {"model_state_dict": {"x": _RunsCode(argument)}}
    elif kind == "small":
        payload = {"w": torch.zeros(64)}
    elif kind == "non_tensor":
        payload = {"model": {"layer.weight": torch.zeros(2), "step": 3}}
    else:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    torch.save(payload, out)


def tiny_wrong_shape(out: str, key: str) -> None:
    """The state dict of the infmllm-tiny model card with ``key`` given a wrong shape."""
    import torch

    from infmllm_eval.cards import model_cards
    from infmllm_eval.modeling import InfMLLM, InfMLLMConfig

    card = model_cards()["infmllm-tiny"]
    state = InfMLLM(InfMLLMConfig.from_dict(dict(card.architecture))).state_dict()
    state[key] = torch.zeros(5)
    torch.save({"model_state_dict": state}, out)


def safetensors_file(out: str) -> None:
    """A small valid safetensors file (one 1,000-float tensor)."""
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1000)}, out)


GENERATORS: dict[str, Callable[..., None]] = {f.__name__: f for f in (
    solid_image, gray16_png, half_transparent_rgba, palette_png, exif_rotated_jpeg, png_header,
    jpeg_header, truncated, zero_bytes, deep_json, pickle_json, pickle_calling,
    pickle_persistent_id, torch_checkpoint, tiny_wrong_shape, safetensors_file)}


def _merge_area_generators() -> None:
    """Add the generators of every tests/bad_inputs/gen_<area>.py (one module per area, each
    with its own GENERATORS dict; names must not clash)."""
    import importlib

    for module in sorted(Path(__file__).parent.glob("gen_*.py")):
        extra = importlib.import_module(f"tests.bad_inputs.{module.stem}").GENERATORS
        clash = set(extra) & set(GENERATORS)
        if clash:
            raise ValueError(f"{module.name}: generator names already taken: {sorted(clash)}")
        GENERATORS.update(extra)


_merge_area_generators()
