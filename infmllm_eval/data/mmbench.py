"""MMBench TSV files (``MMBench_DEV_EN.tsv`` ...), streamed with the csv module.

Columns: index, question, hint, A..D (absent options empty or "nan"), answer, category,
l2-category, image (base64, or the index of the row holding the image). The official files
already carry the CircularEval passes as rows of their own (index >= 1,000,000, options
shifted, own answer letter); they are used as given. Only for a file without any such row are
the rotated passes generated (loader argument ``generate_passes``, default true).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infmllm_eval.data.images import data_uri
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import open_input
from infmllm_eval.metrics.choice import CIRCULAR_STRIDE, rotations
from infmllm_eval.types import Sample, Scalar

OPTION_LETTERS = "ABCDEFGHI"
REQUIRED = ("index", "question", "image")
_MAGIC = (("iVBORw0KGgo", "png"), ("R0lGOD", "gif"), ("UklGR", "webp"), ("Qk", "bmp"))


def _absent(value: str | None) -> bool:
    return value is None or not value.strip() or value.strip().lower() == "nan"


def _image_kind(b64: str) -> str:
    """The image type named in the data URI, from the first bytes of the payload."""
    return next((kind for magic, kind in _MAGIC if b64.startswith(magic)), "jpeg")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by column name); a row with the wrong cell count is an error."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long cells
    try:
        with io.TextIOWrapper(open_input(path, "MMBench TSV"), encoding="utf-8-sig",
                              newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = [name.strip() for name in next(reader, [])]
            lowered = {name.lower(): name for name in header}
            missing = [name for name in REQUIRED if name not in lowered]
            if missing:
                raise BadInputError(f"{path}: missing column(s) {', '.join(missing)} "
                                    f"(columns: {shown(', '.join(header) or 'none', 200)})")
            names = [name.lower() for name in header]
            twice = next((n for i, n in enumerate(names) if n and n in names[:i]), None)
            if twice is not None:  # a dict of the row would keep only the last copy
                raise BadInputError(f"{path}: column {shown(twice)} appears twice in the header "
                                    "(only one copy could be used); remove or rename one")
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(names):
                    raise BadInputError(f"{path}: line {reader.line_num}: {len(cells)} cells, "
                                        f"the header has {len(names)}")
                yield reader.line_num, dict(zip(names, cells, strict=True))
    except FileNotFoundError:
        raise BadInputError(f"MMBench TSV not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise BadInputError(f"{path}: malformed TSV: {exc}") from None


def _index(value: str, where: str) -> int:
    """A row index: digits (exact), or a float spelling of an integer ("12.0", as pandas
    writes it) below 2**53, where floats are still exact."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    try:  # ASCII only: float() also reads other scripts' digits and '1_000'
        number = float(value) if value.isascii() and "_" not in value else -1.0
    except ValueError:
        number = -1.0
    if not number.is_integer() or not 0 <= number < 2**53:
        raise BadInputError(f"{where}: 'index' must be a non-negative integer (below 2**53), "
                            f"got {shown(value, 40)}")
    return int(number)


def _flag(value: Scalar) -> bool:
    return value.strip().lower() in ("1", "true", "yes") if isinstance(value, str) else bool(value)


def _parse(row: dict[str, str], where: str) -> dict[str, Any]:
    options = [(letter, row[letter.lower()].strip()) for letter in OPTION_LETTERS
               if not _absent(row.get(letter.lower()))]
    if len(options) < 2:
        raise BadInputError(f"{where}: fewer than two options")
    answer = None
    if "answer" in row and not _absent(row["answer"]):
        answer = row["answer"].strip().upper()
        if answer not in {letter for letter, _ in options}:
            raise BadInputError(f"{where}: answer {shown(answer)} is not one of its options "
                                f"{', '.join(letter for letter, _ in options)}")
    hint = "" if _absent(row.get("hint")) else row["hint"].strip()
    image = row["image"].strip()
    if not image:
        raise BadInputError(f"{where}: empty image cell")
    return {"index": _index(row["index"].strip(), where), "question": row["question"],
            "hint": hint, "options": options, "answer": answer, "image": image,
            "category": row.get("category", "").strip(),
            "l2-category": (row.get("l2-category") or "").strip()}


def _resolve_images(records: list[dict[str, Any]], path: Path) -> None:
    """Replace each image cell by a data URI; a reference to another row's index gets that
    row's URI object, so the passes of a question share one image string."""
    by_index = {r["index"]: r for r in records}
    uris: dict[str, str] = {}
    for record in records:
        cell, seen = record["image"], {record["index"]}
        while len(cell) <= 64 and cell.isdigit():
            target = by_index.get(int(cell))
            if target is None or target["index"] in seen:
                raise BadInputError(f"{path}: row index {record['index']}: image refers to "
                                    f"row {cell}, which {'loops' if target else 'is absent'}")
            seen.add(target["index"])
            cell = target["image"]
        if cell not in uris:
            uris[cell] = data_uri(cell, _image_kind(cell))
        record["uri"] = uris[cell]


def _sample(index: int, record: dict[str, Any], options: list[tuple[str, str]],
            answer: str | None) -> Sample:
    fields = {"question": record["question"], "hint": record["hint"],
              "options": [[letter, text] for letter, text in options]}
    meta = {"group": index % CIRCULAR_STRIDE, "pass": index // CIRCULAR_STRIDE,
            "category": record["category"], "l2-category": record["l2-category"]}
    return Sample(index, record["uri"], fields, answer, meta)


def _check_answers(records: list[dict[str, Any]], path: Path) -> None:
    """Answers in every row or in none (a test split): a row without one would only ever
    count as wrong."""
    lacking = next((r for r in records if r["answer"] is None), None)
    if lacking is not None and any(r["answer"] is not None for r in records):
        raise BadInputError(f"{path}: row index {lacking['index']}: no answer while other rows "
                            "have one; fix the file (every row needs its answer letter)")


def _answer_text(record: dict[str, Any]) -> str | None:
    return next((text for letter, text in record["options"] if letter == record["answer"]),
                None)


def _check_copy(copy: dict[str, Any], base: dict[str, Any] | None, path: Path) -> None:
    """A CircularEval copy must ask its base row's question with the same options (shifted)
    and the same right option."""
    index, group = copy["index"], copy["index"] % CIRCULAR_STRIDE
    where = f"{path}: row index {index}"
    if base is None:
        raise BadInputError(f"{where}: a CircularEval copy (pass {index // CIRCULAR_STRIDE}) "
                            f"without its base row {group}; add the base row or drop the copy")
    n = len(base["options"])
    if index // CIRCULAR_STRIDE >= n:
        raise BadInputError(f"{where}: pass {index // CIRCULAR_STRIDE} of question {group}, "
                            f"which has {n} options (passes 0 to {n - 1}); fix the index")
    for name in ("question", "hint"):
        if copy[name].strip() != base[name].strip():
            raise BadInputError(f"{where}: its {name} differs from that of its base row "
                                f"{group}; a CircularEval copy asks the same question")
    if sorted(t for _, t in copy["options"]) != sorted(t for _, t in base["options"]):
        raise BadInputError(f"{where}: its options are not those of its base row {group} "
                            "(a CircularEval copy only shifts them)")
    if _answer_text(copy) != _answer_text(base):
        raise BadInputError(
            f"{where}: answer {copy['answer']} ({shown(_answer_text(copy))}) contradicts its "
            f"base row {group}, whose answer {base['answer']} is {shown(_answer_text(base))}; "
            "after the rotation the right option must stay the same")


def _check_passes(records: list[dict[str, Any]], path: Path) -> None:
    """A file carrying CircularEval copies must carry all of them, consistent with their base
    rows: missing or contradicting copies change circular accuracy (a model answering "A"
    every time scores on questions whose passes all have answer A)."""
    bases = {r["index"]: r for r in records if r["index"] < CIRCULAR_STRIDE}
    passes: dict[int, set[int]] = {index: set() for index in bases}
    for record in records:
        if record["index"] >= CIRCULAR_STRIDE:
            group = record["index"] % CIRCULAR_STRIDE
            _check_copy(record, bases.get(group), path)
            passes[group].add(record["index"] // CIRCULAR_STRIDE)
    for index, base in bases.items():
        want = set(range(1, len(base["options"])))
        if passes[index] != want:
            lost = sorted(want - passes[index])
            raise BadInputError(
                f"{path}: row index {index}: the file carries CircularEval copies, but not "
                f"all of this question's (it has {len(want) + 1} options; missing: row index "
                f"{', '.join(str(index + p * CIRCULAR_STRIDE) for p in lost)}); give every "
                "question all its copies, or none (they are then generated)")


def _check_copy_images(records: list[dict[str, Any]], path: Path) -> None:
    """A CircularEval copy shows its base row's image (the official files refer to it by
    index); another image makes it another question."""
    bases = {r["index"]: r["uri"] for r in records if r["index"] < CIRCULAR_STRIDE}
    for record in records:
        group = record["index"] % CIRCULAR_STRIDE
        if record["index"] >= CIRCULAR_STRIDE and record["uri"] != bases[group]:
            raise BadInputError(f"{path}: row index {record['index']}: its image differs from "
                                f"that of its base row {group}; a CircularEval copy shows the "
                                "same image (give the base row's index in its image cell)")


def load_mmbench(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """Every row of the TSV at ``files['tsv']`` (plus generated passes, see the module doc)."""
    path = files["tsv"]
    records: list[dict[str, Any]] = []
    first_line: dict[int, int] = {}
    for line, row in _rows(path):
        record = _parse(row, f"{path}: line {line}")
        if record["index"] in first_line:
            raise BadInputError(f"{path}: line {line}: duplicate index {record['index']} "
                                f"(first at line {first_line[record['index']]})")
        first_line[record["index"]] = line
        records.append(record)
    if not records:
        raise BadInputError(f"{path}: no rows")
    _check_answers(records, path)
    has_copies = any(r["index"] >= CIRCULAR_STRIDE for r in records)
    if has_copies:
        _check_passes(records, path)
    _resolve_images(records, path)
    if has_copies:
        _check_copy_images(records, path)
    samples = [_sample(r["index"], r, r["options"], r["answer"]) for r in records]
    if not has_copies and _flag(args.get("generate_passes", True)):
        for r in records:
            for shift, (moved, answer) in enumerate(rotations(r["options"], r["answer"]), 1):
                samples.append(_sample(r["index"] + shift * CIRCULAR_STRIDE, r, moved, answer))
    return samples
