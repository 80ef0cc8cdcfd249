"""The lmms-lab Hugging Face copies of the VQA benchmarks, read from local disk only.

lmms-eval evaluates from ``lmms-lab/VQAv2``, ``lmms-lab/textvqa``, ``lmms-lab/OK-VQA`` … on
the Hugging Face hub. A copy on disk is either the repository's parquet files (e.g.
``huggingface-cli download lmms-lab/VQAv2 --repo-type dataset --local-dir DIR``: files named
``<split>-00000-of-000NN….parquet`` or kept in a ``<split>/`` folder) or a
``datasets`` ``save_to_disk`` folder (a DatasetDict with ``dataset_dict.json`` or one Dataset
with ``state.json``). Nothing is ever downloaded.

Rows carry ``question_id``, ``question``, ``answers`` (a list of strings, or of
``{"answer": …}`` records as in VQAv2), optional ``image_id`` / ``answer_type`` /
``question_type`` / ``ocr_tokens``, and the image bytes (``{"bytes", "path"}``). Rows are read
in the order ``datasets`` gives them (shards sorted by name), so a row's position is
lmms-eval's ``doc_id``.

The images live inside the rows (VQAv2 repeats an image for each of its questions), so a run
writes each image once to the task's ``images`` folder and records an ``index.json`` there;
later runs find the images through the index without reading the image bytes again.
Scoring never touches the images.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from infmllm_eval.data.common import check_unique, leaves_folder
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.types import Sample, Scalar

OPTIONAL_COLUMNS = ("image_id", "answer_type", "question_type", "ocr_tokens")
INDEX_NAME = "index.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise BadInputError("reading an lmms-lab dataset needs pyarrow: pip install "
                            "'infmllm-eval[lmms]' (or pip install pyarrow)") from None
    return pyarrow


def dataset_files(path: Path, split: str) -> tuple[str, list[Path]]:
    """("parquet" or "arrow", the split's files in ``datasets``' order) for a local copy."""
    if path.is_file():
        if path.suffix != ".parquet":
            raise BadInputError(f"{path}: expected a .parquet file or a dataset folder")
        return "parquet", [path]
    if not path.is_dir():
        raise BadInputError(f"lmms-lab dataset not found at {path} (a folder of parquet "
                            "files or a save_to_disk folder; set --file dataset=PATH)")
    if (path / "dataset_dict.json").is_file():
        if not (path / split).is_dir():
            splits = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise BadInputError(f"{path}: no split {shown(split)} in this DatasetDict "
                                f"(splits: {', '.join(splits) or 'none'})")
        path = path / split
    if (path / "state.json").is_file():
        return "arrow", _arrow_files(path)
    found = sorted(p for p in path.rglob("*.parquet")
                   if p.parent.name == split or p.name.startswith((f"{split}-", f"{split}.")))
    if not found:
        raise BadInputError(f"{path}: no parquet files for split {shown(split)} (expected "
                            f"{split}-*.parquet or {split}/*.parquet below it) and no "
                            "save_to_disk folder (state.json)")
    return "parquet", found


def _arrow_files(folder: Path) -> list[Path]:
    where = folder / "state.json"
    try:
        state = json.loads(where.read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{where}: not a datasets save_to_disk state file ({shown(exc)})"
                            ) from None
    for name in names:
        if not isinstance(name, str) or leaves_folder(name):
            raise BadInputError(f"{where}: data file name {shown(name)} must be a name inside "
                                f"{folder} (no '..', not absolute)")
    files = [folder / str(name) for name in names]
    for file in files:
        if not file.is_file():
            raise BadInputError(f"{where}: lists {file.name}, which is missing")
    return files


def _schema_names(kind: str, file: Path) -> list[str]:
    pa = _pyarrow()
    try:
        if kind == "parquet":
            return list(pa.parquet.ParquetFile(file).schema_arrow.names)
        with pa.memory_map(str(file)) as source:
            return list(pa.ipc.open_stream(source).schema.names)
    except (OSError, pa.ArrowInvalid) as exc:
        raise BadInputError(f"{file}: cannot read as {kind} ({exc})") from None


def _batches(kind: str, files: Sequence[Path], columns: list[str]) -> Iterator[Any]:
    """Record batches of ``columns`` over all files, in order (image bytes stay streamed)."""
    pa = _pyarrow()
    for file in files:
        try:
            if kind == "parquet":
                yield from pa.parquet.ParquetFile(file).iter_batches(batch_size=256,
                                                                     columns=columns)
                continue
            with pa.memory_map(str(file)) as source:
                for batch in pa.ipc.open_stream(source):
                    yield batch.select(columns)
        except (OSError, pa.ArrowInvalid) as exc:
            raise BadInputError(f"{file}: cannot read as {kind} ({exc})") from None


def read_columns(path: Path, split: str, required: Sequence[str],
                 optional: Sequence[str] = ()) -> tuple[list[Path], dict[str, list[Any]]]:
    """The split's files and the named columns as Python lists (missing required ones are an
    error naming the columns the dataset has)."""
    kind, files = dataset_files(path, split)
    names = _schema_names(kind, files[0])
    absent = [c for c in required if c not in names]
    if absent:
        raise BadInputError(f"{files[0]}: no column {', '.join(absent)} (columns: "
                            f"{', '.join(names)}); is this an lmms-lab VQA dataset?")
    columns = [*required, *(c for c in optional if c in names)]
    out: dict[str, list[Any]] = {c: [] for c in columns}
    for batch in _batches(kind, files, columns):
        for name, values in zip(columns, batch.columns, strict=True):
            out[name].extend(values.to_pylist())
    return files, out


def _answers(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise BadInputError(f"{where}: 'answers' must be a non-empty list, got {shown(value, 60)}")
    out = []
    for item in value:
        text = item.get("answer") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise BadInputError(f"{where}: an answer must be a string or an object with an "
                                f"'answer' string, got {shown(item, 60)}")
        out.append(text)
    return out


def load_lmms_vqa(files: dict[str, Path], args: dict[str, Scalar]) -> list[Sample]:
    """One Sample per row; with an ``images`` folder, each image is written there once."""
    split = str(args.get("split", "validation"))
    dataset = files["dataset"]
    shards, cols = read_columns(dataset, split, ("question_id", "question"),
                                ("answers", *OPTIONAL_COLUMNS))
    answers = cols.get("answers", [None] * len(cols["question_id"]))
    samples = []
    for row, (qid, question) in enumerate(zip(cols["question_id"], cols["question"],
                                              strict=True)):
        where = f"{dataset}: split {split}, row {row}"
        if isinstance(qid, bool) or not isinstance(qid, int | str):
            raise BadInputError(f"{where}: 'question_id' must be an integer or string, "
                                f"got {shown(qid, 40)}")
        if not isinstance(question, str):
            raise BadInputError(f"{where}: 'question' must be a string, got {shown(question, 40)}")
        fields: dict[str, Any] = {"question": question}
        if "ocr_tokens" in cols:
            tokens = cols["ocr_tokens"][row]
            fields["ocr_tokens"] = tokens if isinstance(tokens, list) else []
        meta: dict[str, Any] = {k: cols[k][row] for k in ("image_id", "answer_type",
                                                          "question_type") if k in cols}
        samples.append(Sample(qid, None, fields, _answers(answers[row], where), meta))
    check_unique([s.id for s in samples], dataset, "question_id")
    folder = files.get("images")
    if folder is None:
        return samples
    keys = [image_key(s.meta.get("image_id"), s.id) for s in samples]
    paths = image_files(shards, folder, keys)
    return [s._replace(image=paths[k]) for s, k in zip(samples, keys, strict=True)]


def image_key(image_id: Any, question_id: Any) -> str:
    """The image a row shows: its image_id, else (no such column) its question."""
    return str(question_id if image_id is None else image_id)


def _fingerprint(shards: Sequence[Path]) -> list[list[Any]]:
    out = []
    for file in shards:
        st = file.stat()
        out.append([str(file.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _file_name(key: str, data: bytes, source: str | None) -> str:
    if data.startswith(b"\x89PNG"):
        ext = ".png"
    elif data.startswith(b"\xff\xd8"):
        ext = ".jpg"
    else:
        ext = Path(source or "").suffix.lower() or ".img"
    stem = key if _SAFE_NAME.match(key) else "h" + hashlib.sha1(key.encode()).hexdigest()
    return stem + ext


def image_files(shards: Sequence[Path], folder: Path, keys: Sequence[str]) -> dict[str, str]:
    """Image path per key: from ``folder/index.json`` when it was written for these very
    shards, else by writing every image (one per key) to ``folder``."""
    index_path = folder / INDEX_NAME
    fingerprint = _fingerprint(shards)
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        names = index.get("images", {}) if isinstance(index, dict) else {}
        if (index.get("source") == fingerprint and isinstance(names, dict)
                and all(k in names for k in keys)):
            return {k: str(folder / names[k]) for k in keys}
    names = _extract(shards, folder, set(keys))
    text = json.dumps({"source": fingerprint, "images": names}, sort_keys=True)
    _write_file(index_path, text.encode("utf-8"))
    return {k: str(folder / names[k]) for k in keys}


def _extract(shards: Sequence[Path], folder: Path, wanted: set[str]) -> dict[str, str]:
    kind = "parquet" if shards[0].suffix == ".parquet" else "arrow"
    names = _schema_names(kind, shards[0])
    if "image" not in names:
        raise BadInputError(f"{shards[0]}: no 'image' column to read the images from")
    columns = ["question_id", "image"] + (["image_id"] if "image_id" in names else [])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create the image folder {folder} ({exc.strerror}); "
                            "set --file images=DIR to a writable folder") from None
    out: dict[str, str] = {}
    for batch in _batches(kind, shards, columns):
        qids, images = batch.columns[0].to_pylist(), batch.columns[1].to_pylist()
        image_ids = batch.columns[2].to_pylist() if len(columns) == 3 else [None] * len(qids)
        for qid, image_id, image in zip(qids, image_ids, images, strict=True):
            key = image_key(image_id, qid)
            if key in out or key not in wanted:
                continue
            data = image.get("bytes") if isinstance(image, dict) else None
            source = image.get("path") if isinstance(image, dict) else None
            if (not isinstance(data, bytes) or not data) and isinstance(source, str) and (
                    Path(source).is_absolute() and Path(source).is_file()):
                out[key] = source  # a datasets Image that refers to a file on disk
                continue
            if not isinstance(data, bytes) or not data:
                raise BadInputError(f"{shards[0].parent}: the image of question_id {qid} has "
                                    "neither bytes nor an existing file path")
            name = _file_name(key, data, source)
            target = folder / name
            if not target.is_file() or target.stat().st_size != len(data):
                _write_file(target, data)
            out[key] = name
    missing = wanted - set(out)
    if missing:
        raise BadInputError(f"{shards[0].parent}: no image for image key "
                            f"{sorted(missing)[0]}")
    return out


def _write_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path} ({exc.strerror}); set --file images=DIR "
                            "to a writable folder") from None
