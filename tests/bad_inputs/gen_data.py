"""Generators for tests/bad_inputs/cases_data.json (merged into generators.GENERATORS): cards
that are resource bombs, refs pickles whose values would blow up a repr, instances files whose
image names leave the image folder, FIFOs, links and sparse files made at test time."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

_CARD_HEAD = ("name: {name}\nfamily: vqa\nloader: vqa\nsplit: val\nsize: 2\n"
              "primary_metric: accuracy\nfiles:\n  questions: vqav2/questions.json\n"
              "  annotations: vqav2/annotations.json\n")


def data_alias_bomb_card(out: str, name: str) -> None:
    """A ~700-byte task card whose ``size`` (an int is expected) is a billion-laughs alias
    bomb: nine levels of nine aliases each (about 9**9 strings once expanded)."""
    levels = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        levels.append(f"&a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    head = _CARD_HEAD.format(name=name).replace("size: 2\n", "")
    Path(out).write_text(head + "size: [\n  " + ",\n  ".join(levels) + "]\n",
                         encoding="utf-8")


def data_deep_card(out: str, name: str, depth: str, style: str) -> None:
    """A task card whose ``options`` is nested ``depth`` levels deep: 'list' ([[[...]]]),
    'map' ({a: {a: ...}}), 'block' (- - - ... 1) or 'open' (unclosed '[' only)."""
    count = int(depth)
    value = {"list": "[" * count + "]" * count, "map": "{a: " * count + "1" + "}" * count,
             "block": "\n  " + "- " * count + "1", "open": "[" * count}[style]
    Path(out).write_text(_CARD_HEAD.format(name=name) + "options: " + value + "\n",
                         encoding="utf-8")


def data_big_int_card(out: str, name: str, digits: str) -> None:
    """A task card whose ``split`` is an integer of ``digits`` digits (a str is expected)."""
    text = _CARD_HEAD.format(name=name).replace("split: val", "split: " + "7" * int(digits))
    Path(out).write_text(text, encoding="utf-8")


def data_refs_bomb(out: str, src: str, levels: str) -> None:
    """The refs of the JSON file ``src`` as a protocol-2 pickle whose first ``ref_id`` is a
    shared-reference bomb: ``levels`` nested pairs of the same list (2**levels leaves), a few
    hundred bytes on disk, whose repr() never ends."""
    refs = json.loads(Path(src).read_text(encoding="utf-8"))
    bomb: list[object] = ["lol"]
    for _ in range(int(levels)):
        bomb = [bomb, bomb]
    refs[0]["ref_id"] = bomb
    Path(out).write_bytes(pickle.dumps(refs, protocol=2))


def data_refs_shared_sentences(out: str, src: str, count: str) -> None:
    """The first ref of the JSON file ``src`` ``count`` times over, all sharing one list of
    ``count`` sentences (a pickle stores the shared list once): count**2 samples if built."""
    ref = json.loads(Path(src).read_text(encoding="utf-8"))[0]
    ref["sentences"] = [{"sent_id": i, "sent": "x", "raw": "x"} for i in range(int(count))]
    Path(out).write_bytes(pickle.dumps([ref] * int(count), protocol=2))


def data_refs_raw_bomb(out: str, src: str, levels: str) -> None:
    """The refs of ``src`` with the first sentence's ``raw`` text replaced by a
    shared-reference bomb (it would be copied into the sample's meta and written out)."""
    refs = json.loads(Path(src).read_text(encoding="utf-8"))
    bomb: list[object] = ["lol"]
    for _ in range(int(levels)):
        bomb = [bomb, bomb]
    refs[0]["sentences"][0]["raw"] = bomb
    Path(out).write_bytes(pickle.dumps(refs, protocol=2))


def data_deep_pickle(out: str, depth: str) -> None:
    """A hand-written pickle of a list nested ``depth`` levels deep (pickle.dumps would
    recurse): EMPTY_LIST ``depth`` times, then APPEND ``depth - 1`` times."""
    count = int(depth)
    Path(out).write_bytes(b"\x80\x02" + b"]" * count + b"a" * (count - 1) + b".")


def data_instances_image(out: str, src: str, file_name: str) -> None:
    """The COCO instances file ``src`` with its first image's file_name replaced."""
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    doc["images"][0]["file_name"] = file_name
    Path(out).write_text(json.dumps(doc), encoding="utf-8")


def data_fifo(out: str) -> None:
    """A FIFO (named pipe) with no writer: opening it for reading would block forever."""
    os.mkfifo(out)


def data_sparse(out: str, size: str) -> None:
    """A sparse file of ``size`` bytes (e.g. 2 GB) that takes no disk space."""
    with open(out, "wb") as fh:
        fh.truncate(int(size))


def data_symlink(out: str, target: str) -> None:
    """A symbolic link ``out`` -> ``target``."""
    os.symlink(target, out)


GENERATORS: dict[str, Callable[..., None]] = {
    "data_alias_bomb_card": data_alias_bomb_card,
    "data_deep_card": data_deep_card,
    "data_big_int_card": data_big_int_card,
    "data_refs_bomb": data_refs_bomb,
    "data_deep_pickle": data_deep_pickle,
    "data_refs_shared_sentences": data_refs_shared_sentences,
    "data_refs_raw_bomb": data_refs_raw_bomb,
    "data_instances_image": data_instances_image,
    "data_fifo": data_fifo,
    "data_sparse": data_sparse,
    "data_symlink": data_symlink,
}
