"""Generators for tests/bad_inputs/cases_redscore.json (merged into generators.GENERATORS):
hostile variants of the score/data/report side found by a red-team pass - image names with
line breaks and terminal escapes, MMBench headers with a column twice, CircularEval copies
showing another image, MME result files in odd encodings ...

Each writes the file (or folder) ``out``; arguments are strings (JSON escapes such as \\n in
the manifest give control characters)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from tests.bad_inputs.gen_scores import _MMBENCH_HEADER, _mmbench_rows


def redscore_text(out: str, text: str, encoding: str = "utf-8") -> None:
    """``text`` written as given (``encoding`` utf-8, utf-8-sig for a BOM, latin-1 ...)."""
    Path(out).write_bytes(text.encode(encoding))


def redscore_replace(out: str, src: str, old: str, new: str) -> None:
    """The text file ``src`` with the first ``old`` replaced by ``new``."""
    text = Path(src).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {src}"
    Path(out).write_text(text.replace(old, new, 1), encoding="utf-8")


def _set(doc: Any, path: str, value: Any) -> None:
    parts = path.split("/")
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    last = parts[-1]
    if isinstance(doc, list) and int(last) == len(doc):
        doc.append(value)  # one past the end: a new item
    elif isinstance(doc, list):
        doc[int(last)] = value
    else:
        doc[last] = value


def redscore_json_set(out: str, src: str, path: str, value: str) -> None:
    """The JSON file ``src`` with the value at ``path`` ('/'-separated keys and list
    indices; the index one past a list's end appends) replaced by the JSON text ``value``."""
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    _set(doc, path, json.loads(value))
    Path(out).write_text(json.dumps(doc), encoding="utf-8")


def redscore_refs_pickle(out: str, src: str) -> None:
    """The refs JSON ``src`` as the refer toolkit's pickle."""
    Path(out).write_bytes(pickle.dumps(json.loads(Path(src).read_text(encoding="utf-8")),
                                       protocol=2))


def redscore_image(out: str, size: str = "200,100") -> None:
    """A small RGB image (format from the suffix)."""
    width, height = (int(v) for v in size.split(","))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (10, 200, 30)).save(out)


def redscore_mmbench(out: str, kind: str, part: str = "tsv", prediction: str = "A") -> None:
    """The two-question MMBench TSV of gen_scores (all CircularEval copies), damaged as
    ``kind`` says: ``dup_column`` (a second 'answer' column, case differing: 'Answer'),
    ``copy_other_image`` (pass 1 of question 0 carries an image of its own), ``crlf_bom``
    (valid, with a BOM, CRLF line ends and a trailing tab on every line), ``unicode_index``
    (index written in Arabic-Indic digits); ``part`` preds: a JSONL answering every row."""
    rows = [list(r) for r in _mmbench_rows("valid")]
    header = list(_MMBENCH_HEADER)
    if part == "preds":
        lines = [json.dumps({"id": int(r[0]), "prediction": prediction}) for r in rows]
        Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    end, tail, bom = "\n", "", ""
    if kind == "dup_column":
        header.append("Answer")
        rows = [[*r, "B"] for r in rows]
    elif kind == "copy_other_image":
        import base64
        import io

        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (0, 255, 0)).save(buffer, format="JPEG")
        rows[1][-1] = base64.b64encode(buffer.getvalue()).decode()
    elif kind == "crlf_bom":
        end, tail, bom = "\r\n", "\t\t", "\ufeff"  # two unnamed trailing columns
        header.append("extra")
        rows = [[*r, "x"] for r in rows]
    elif kind == "unicode_index":
        rows[0][0] = "\u0660"
    text = bom + end.join("\t".join(r) + tail for r in [header, *rows]) + end
    Path(out).write_text(text, encoding="utf-8", newline="")


def redscore_mme_release(out: str, damage: str = "fifo") -> None:
    """An MME release folder ``out`` (FLAT layout) whose 'existence' subtask has image 0001
    with its question file, and image 0002 whose question file is a FIFO (``damage`` fifo)."""
    import os

    folder = Path(out) / "existence"
    folder.mkdir(parents=True, exist_ok=True)
    for stem in ("0001", "0002"):
        Image.new("RGB", (8, 8), (200, 30, 30)).save(folder / f"{stem}.jpg")
    (folder / "0001.txt").write_text("Is there a red square?\tYes\nIs there a blue square?\tNo\n",
                                     encoding="utf-8")
    if damage == "fifo":
        os.mkfifo(folder / "0002.txt")


GENERATORS: dict[str, Callable[..., None]] = {f.__name__: f for f in (
    redscore_text, redscore_replace, redscore_json_set, redscore_refs_pickle, redscore_image,
    redscore_mmbench, redscore_mme_release)}
