"""Reading user files with errors that name the file and the position; atomic writes."""

from __future__ import annotations

import gc
import json
import mmap
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import input_errors, open_checked, read_bytes


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while bulk-decoding: parsed JSON holds no cycles, and collections
    triggered by millions of new objects otherwise dominate the load time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _position(data: bytes, message: str) -> str:
    """'line L, column C' from msgspec's '(byte N)' (1-based, columns in characters)."""
    found = re.search(r"\(byte (\d+)\)", message)
    if not found:
        return "unknown position"
    offset = int(found.group(1))
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return f"line {line}, column {column}"


def _check_utf8(data: bytes, path: Path) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def decode_json(data: bytes, path: Path, kind: Any = Any) -> Any:
    """Decode JSON bytes, optionally into a msgspec type; errors name the file and the
    position (malformed) or the JSON path of the offending field (wrong type/missing)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        with no_gc():
            obj = msgspec.json.decode(data, type=kind)
        check_unique_keys(data, path, obj if kind is Any else _UNKNOWN)
        return obj
    except msgspec.ValidationError as exc:
        raise BadInputError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        _check_utf8(data, path)
        message = str(exc).split(" (byte")[0].removeprefix("JSON is malformed: ")
        raise BadInputError(
            f"{path}: malformed JSON at {_position(data, str(exc))}: {message}"
        ) from None
    except UnicodeDecodeError:
        _check_utf8(data, path)
        raise BadInputError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise BadInputError(f"{path}: malformed JSON (nested too deeply)") from None


#: files at least this large are decoded from a memory map
MAP_AT_BYTES = 1 << 24


def read_json(path: Path, what: str = "JSON file", kind: Any = Any) -> Any:
    """Parse a JSON file (into ``kind`` when given); see :func:`decode_json`.

    A large regular file is decoded straight from a memory map, without first copying it into
    memory (the 173 MB VQAv2 annotations: ~0.1 s less); anything else, and any error, is read
    from the same file (opened once, with :func:`read_bytes`' checks) and goes through
    :func:`decode_json`, whose messages name the position."""
    with input_errors(path, what):
        fh = open_checked(path, what)
    if isinstance(fh, bytes):  # a pipe, read whole
        return decode_json(fh, path, kind)
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size >= MAP_AT_BYTES:
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    if mapped[:3] != b"\xef\xbb\xbf":
                        with no_gc():
                            obj = msgspec.json.decode(mapped, type=kind)
                        check_unique_keys(mapped, path, obj if kind is Any else _UNKNOWN)
                        return obj
        except (OSError, ValueError, msgspec.DecodeError, RecursionError):
            pass  # not valid: read and explained below
        with input_errors(path, what):
            data = fh.read()
    return decode_json(data, path, kind)


def iter_jsonl(path: Path, what: str = "JSONL file") -> Iterator[tuple[int, Any]]:
    """Yield (line number, object) for each non-blank line (all lines are decoded and checked
    for duplicated keys before the first is yielded)."""
    data = read_bytes(path, what).removeprefix(b"\xef\xbb\xbf")
    _check_utf8(data, path)
    decode = msgspec.json.decode
    rows: list[tuple[int, Any]] = []
    with no_gc():
        for lineno, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, decode(line)))
            except msgspec.DecodeError as exc:
                where = _position(line, str(exc)).split(", ")[-1]
                message = str(exc).split(" (byte")[0].removeprefix("JSON is malformed: ")
                raise BadInputError(
                    f"{path}: malformed JSON on line {lineno}, {where}: {message}"
                ) from None
            except RecursionError:
                raise BadInputError(
                    f"{path}: malformed JSON on line {lineno} (nested too deeply)") from None
        if _dropped_keys(data, [obj for _, obj in rows]):  # one count for the whole file
            lines = data.splitlines()
            for lineno, obj in rows:
                check_unique_keys(lines[lineno - 1], path, obj, f"line {lineno}, ")
    yield from rows


# ---- duplicated keys ----------------------------------------------------------------------
# JSON allows ``{"a": 1, "a": 2}`` and every decoder silently keeps one copy, which can change a
# score without a word. Detecting it costs almost nothing for a valid file: every key is
# followed by one structural colon, and every other colon is inside a string, so the colons of
# the file equal the colons of the decoded value re-encoded exactly when no key was dropped
# (strings are re-encoded with their colons as they are; ``\u003a`` escapes, which hide a colon
# from the byte count, send the file to the exact check). Only a file that fails this count is
# parsed again, by the standard library's parser, to name the key and its position.

#: a decoded value that is a typed (msgspec) view of the file: the count needs the full value
_UNKNOWN = object()

#: typed decodes (structs that skip unknown fields) are checked by a second, untyped decode of
#: files up to this size: 2-3x the load time, so the 173 MB VQAv2 annotations are left out
CHECK_TYPED_BYTES = 1 << 25


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


_CHECKER = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, idx: int) -> int:
    """The index of the first non-blank character at or after ``idx``."""
    found = _WS.match(text, idx)
    return found.end() if found else idx


def _clean(text: str, idx: int) -> int | None:
    """The end of the value at ``idx`` when it holds no duplicated key, else None."""
    try:
        return _CHECKER.raw_decode(text, idx)[1]
    except _Duplicate:
        return None


def _locate(text: str, idx: int, where: str) -> tuple[str, str, int] | None:
    """(JSON path of the object, key, offset of its second copy) for the first duplicated key
    in the value starting at ``idx``; children are skipped whole by the C parser unless they
    hold the duplicate, so this costs about two parses of the file."""
    opener = text[idx]
    if opener not in "{[":
        return None
    closer = "}" if opener == "{" else "]"
    idx = _skip(text, idx + 1)
    seen: set[str] = set()
    n = 0
    while text[idx] != closer:
        child = f"{where}[{n}]"
        if opener == "{":
            start = idx
            key, idx = _CHECKER.raw_decode(text, idx)  # a string: no hook
            if key in seen:
                return where, key, start
            seen.add(key)
            idx = _skip(text, idx) + 1
            idx = _skip(text, idx)
            child = f"{where}.{key}" if key.isidentifier() else f"{where}[{json.dumps(key)}]"
        end = _clean(text, idx)
        if end is None:
            return _locate(text, idx, child)
        idx = _skip(text, end)
        if text[idx] == ",":
            idx = _skip(text, idx + 1)
        n += 1
    return None


def _dropped_keys(data: Any, obj: Any) -> bool | None:
    """Whether decoding ``data`` into ``obj`` dropped a key (see above): None when it surely
    did not, True when it surely did, False when only the exact check can tell."""
    raw = data if isinstance(data, bytes) else bytes(data)
    colons = raw.count(b":")
    if not colons:
        return None
    if obj is _UNKNOWN:
        with no_gc():
            obj = msgspec.json.decode(raw)
    try:
        encoded = msgspec.json.encode(obj)
    except (TypeError, ValueError, OverflowError):
        return False
    escaped = b"\\u003" in raw and re.search(rb"\\u003[aA]", raw) is not None
    if colons == encoded.count(b":") and not escaped:
        return None
    return not escaped


def check_unique_keys(data: Any, path: Path, obj: Any, prefix: str = "") -> None:
    """Refuse a JSON text (bytes or a buffer) in which an object repeats a key, naming the
    key, its line and column and the JSON path of the object; ``obj`` is the value decoded
    from it (or ``_UNKNOWN`` after a typed decode, checked only up to CHECK_TYPED_BYTES)."""
    if obj is _UNKNOWN and len(data) > CHECK_TYPED_BYTES:
        return
    certain = _dropped_keys(data, obj)
    if certain is None:
        return
    raw = bytes(data) if not isinstance(data, bytes) else data
    text = raw.decode("utf-8", errors="replace")
    try:
        found = _locate(text, _skip(text, 0), "$")
    except (ValueError, IndexError, RecursionError):
        found = None
    if found is None:
        if certain:  # e.g. nested too deeply for the exact parser
            raise BadInputError(f"{path}: {prefix}an object repeats a key (a JSON decoder "
                                "keeps only one copy); remove or rename one of them")
        return  # the count was fooled by an escaped colon: no key is repeated
    where, key, offset = found
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    at = f"line {line}, column {column}" if not prefix else f"{prefix}column {column}"
    where = where if len(where) <= 60 else where[:59] + "…"
    raise BadInputError(
        f"{path}: {at}: duplicated key {shown(key)} in the object at {where} "
        "(a JSON decoder keeps only one copy); remove or rename one of them"
    )


def check_unique_keys_jsonl(data: bytes, path: Path, what: str = "JSONL file") -> None:
    """Refuse JSON lines (already decoded once, e.g. typed) in which an object repeats a key,
    naming the line and the key: one untyped decode and the colon count for the whole file;
    only a file that fails the count is checked line by line (see :func:`iter_jsonl`)."""
    with no_gc():
        rows = msgspec.json.Decoder().decode_lines(data)
    if _dropped_keys(data, rows) is not None:
        for _ in iter_jsonl(path, what):
            pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write text (UTF-8) or bytes via a temporary file in the same folder and rename: never a
    half-written file. A path that cannot be written (a folder, a parent that is a file …) is a
    BadInputError."""
    if path.is_dir():
        raise BadInputError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:  # text: as a text-mode file would write it
            fh.write(text if isinstance(text, bytes)
                     else text.replace("\n", os.linesep).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_text(obj: Any) -> bytes:
    """The JSON every file and ``--json`` output is written as (msgspec: NaN and infinities
    become null, as JSON has no such numbers)."""
    return msgspec.json.format(msgspec.json.encode(obj), indent=1) + b"\n"


def write_json(path: Path, obj: Any) -> None:
    """Atomic, indented JSON; NaN/inf are written as null so strict readers accept it."""
    write_atomic(path, json_text(obj))
