"""Append-only predictions journal: a line per response, flushed and fsynced per batch.

Records are separated by ``\\n`` only. Every other character a line splitter may break on is
escaped in the JSON text (``json.dumps`` escapes the control characters; U+0085, U+2028 and
U+2029 are escaped here), and the reader splits on ``\\n`` alone, so any prediction text
round-trips (journals written raw by older versions read the same).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infmllm_eval.engine.progress import notice
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import write_atomic
from infmllm_eval.likelihood import scored_record
from infmllm_eval.types import ScoredText

MAX_LINE = 64 << 20  # far longer than any record (a prediction of 1M tokens, escaped)
# line breaks of str.splitlines that json.dumps(ensure_ascii=False) leaves raw
_ESCAPE = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def journal_line(record: dict[str, object]) -> str:
    """One record as a journal line: JSON without any line break but the final ``\\n``
    (text that is not valid Unicode, such as a lone surrogate, is written as ASCII escapes)."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: U+FFFD, as the reader reads it
        fixed = {k: unicode_text(v) if isinstance(v, str) else v for k, v in record.items()}
        text = json.dumps(fixed, ensure_ascii=False)
    return text.translate(_ESCAPE) + "\n"


def unicode_text(text: str) -> str:
    """``text`` with every lone surrogate (a code point no UTF-8 file can hold, which a
    ``\\udXXX`` escape in JSON decodes to) replaced by U+FFFD; surrogate pairs are joined."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass
class Journal:
    """``predictions/<task>.jsonl`` of a run; what it holds is never rewritten, only appended."""

    path: Path
    dropped_torn_line: bool = field(default=False, init=False)
    failed: dict[str, str] = field(default_factory=dict, init=False)
    origin: dict[str, Path] = field(default_factory=dict, init=False)  # id -> file (read_all)

    def _data(self) -> bytes | None:
        """The journal's bytes (None when there is none yet); a folder, a device or an
        unreadable file is an error naming it."""
        if self.path.is_symlink():  # appends would go into the link's target (not the run's)
            raise BadInputError(f"{self.path}: the journal is a symbolic link; the run appends "
                                "to its journal, so replace the link with a copy of the file "
                                "(or pass --new-run)")
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot read the journal ({exc.strerror}); "
                                "fix its path or pass --new-run") from None
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise BadInputError(f"{self.path}: the journal is {kind}; move it out of the run "
                                "directory (or pass --new-run)")
        try:
            with self.path.open("rb") as fh:
                self._check_shape(fh, info.st_size)
                fh.seek(0)
                return fh.read()
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot read the journal ({exc.strerror}); "
                                "fix its permissions or pass --new-run") from None

    def _check_shape(self, fh: Any, size: int) -> None:
        """Refuse, before reading it all, a file no run wrote: one that starts with a NUL byte
        (a binary or sparse file) or whose last line would be longer than any record."""
        if fh.read(1) == b"\0":
            raise BadInputError(f"{self.path}: starts with a NUL byte, not a journal this harness "
                                "wrote (a binary or sparse file, or damaged by a crash); move "
                                "it away (or pass --new-run)")
        if size > MAX_LINE:
            fh.seek(size - MAX_LINE)
            if b"\n" not in fh.read(MAX_LINE):
                raise BadInputError(f"{self.path}: its last {MAX_LINE >> 20} MB hold no line end, "
                                    "not a journal this harness wrote; move it away (or pass "
                                    "--new-run)")

    def read(self) -> dict[str, str]:
        """Key -> prediction of what is already journaled.

        A last line without its newline (the process died mid-write) is cut off, reported
        on stderr and through ``dropped_torn_line``; a malformed line elsewhere, or two
        different predictions for one id, is an error. A ``null`` prediction counts as
        missing (generated again on resume)."""
        data = self._data()
        if data is None:
            return {}
        keep = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
        done = self._parse(data, keep)  # any error leaves the file as it is
        if keep < len(data):
            try:
                with self.path.open("r+b") as fh:
                    fh.truncate(keep)
            except OSError as exc:
                raise BadInputError(f"{self.path}: cannot cut off the incomplete last line of "
                                    f"the journal ({exc.strerror}); make it writable and rerun"
                                    ) from None
            self.dropped_torn_line = True
            notice(f"{self.path}: dropped an incomplete last line (the previous run stopped "
                   "while writing it); that sample is generated again")
        return done

    def _parse(self, data: bytes, size: int) -> dict[str, str]:
        """Key -> prediction of the first ``size`` bytes of the journal (whole lines)."""
        try:
            text = str(memoryview(data)[:size], "utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            bad = data.count(b"\n", 0, exc.start) + 1
            raise BadInputError(f"{self.path}: line {bad}: not UTF-8 text; the journal is "
                                "damaged: delete that line (or the file, to generate the task "
                                "again)") from None
        done: dict[str, str] = {}
        self.failed = {}
        loads = json.loads
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line or line.isspace():
                continue
            try:
                rec: Any = loads(line)
            except (ValueError, RecursionError):
                rec = None
            if type(rec) is dict and ("\\u" in line or line.count('"id"') != 1
                                      or line.count('"prediction"') != 1):
                rec = _checked(self.path, lineno, line, rec)  # repeated keys, lone surrogates
            if (type(rec) is dict and type(rec.get("id")) is int
                    and type(rec.get("prediction")) is str and "error" not in rec
                    and "logprobs" not in rec):
                key, prediction, error = str(rec["id"]), rec["prediction"], None
            else:
                key, prediction, error = _check(self.path, lineno, rec)
                if prediction is None:
                    continue
                if "logprobs" in rec:
                    prediction = scored_record(rec, f"{self.path}: line {lineno}")
            known = done.setdefault(key, prediction)
            if known != prediction or (isinstance(known, ScoredText)
                                       and not known.same_scores(prediction)):
                raise BadInputError(
                    f"{self.path}: line {lineno}: id {shown(key)} has a second, different "
                    f"prediction (the first is on line {_first_line(text, key)}); delete the "
                    "wrong line (or the file, to generate the task again)")
            if error is not None:
                self.failed[key] = error
        return done

    def append(self, rows: list[tuple[int | str, str]],
               errors: dict[str, str] | None = None) -> None:
        """Append (native id, prediction) rows and make them durable before returning; a
        sample whose input failed is journaled with its ``error`` (and scores as wrong).
        A failed write (disk full …) is undone, so the journal keeps exactly what it held."""
        errors = errors or {}
        data = "".join(journal_line(_record(i, p, errors.get(str(i)))) for i, p in rows)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot write the journal ({exc.strerror}); "
                                "fix the run directory or pass --new-run") from None
        try:
            size = os.fstat(fd).st_size
            _write_all(fd, data.encode("utf-8"))
            os.fsync(fd)
        except OSError as exc:
            _undo(fd, size)
            raise BadInputError(
                f"{self.path}: cannot append to the journal ({exc.strerror}); the "
                "predictions journaled before are intact: make room and rerun the same "
                "command to resume") from None
        finally:
            os.close(fd)

    def shard(self, rank: int) -> Journal:
        """The journal rank ``rank`` of a distributed run appends to."""
        return Journal(self.path.with_name(f"{self.path.stem}.rank{rank}.jsonl"))

    def shards(self) -> list[Journal]:
        """Shard journals present (from this or an earlier run, of any world size)."""
        # exactly <task>.rank<N>.jsonl: canonicalize deletes them once merged, so a user's
        # <task>.rank0.backup.jsonl is neither read nor deleted
        return [Journal(p) for p in sorted(self.path.parent.glob(f"{self.path.stem}.rank*.jsonl"))
                if p.name[len(self.path.stem) + 5:-6].isdigit()
                and p.name[len(self.path.stem) + 5:-6].isascii()]

    def read_all(self) -> dict[str, str]:
        """What this journal and every shard hold (``failed`` covers them all); one id with
        different predictions in two files is an error naming both."""
        done, failed = self.read(), dict(self.failed)
        where = dict.fromkeys(done, self.path)
        for shard in self.shards():
            for key, prediction in shard.read().items():
                if done.get(key, prediction) != prediction:
                    raise BadInputError(
                        f"{shard.path}: id {shown(key)} has a different prediction in "
                        f"{where[key]}; delete the wrong one (or both, to generate it again)")
                done.setdefault(key, prediction)
                where.setdefault(key, shard.path)
            failed.update(shard.failed)
            self.dropped_torn_line |= shard.dropped_torn_line
        self.failed = failed
        self.origin = where
        return done

    def check_ids(self, done: dict[str, str], keys: set[str], task: str) -> None:
        """Refuse journaled ids that are not samples of the task (``keys``): the task's data
        changed since the run began, or the file is another task's. Rewriting the journal
        would delete those predictions, and the others may not be the samples' either."""
        stray = next((key for key in done if key not in keys), None)
        if stray is not None:
            where = self.origin.get(stray, self.path)
            count = sum(1 for key in done if key not in keys)
            raise BadInputError(
                f"{where}: id {shown(stray)}{f' (and {count - 1} more)' if count > 1 else ''} "
                f"is not a sample of task {task}: its data changed since this run began, or the "
                "journal is another run's; pass --new-run (or delete those lines)")

    def canonicalize(self, order: list[int | str]) -> None:
        """Merge the shards into this journal and rewrite it in sample order (atomically; the
        shards go once merged), so the predictions file is byte-identical whatever the batch
        size, batch order or number of processes was."""
        shards = self.shards()
        done = self.read_all()
        keys = [str(i) for i in order if str(i) in done]
        native = {str(i): i for i in order}
        text = "".join(journal_line(_record(native[k], done[k], self.failed.get(k)))
                       for k in keys)
        try:
            write_atomic(self.path, text)
        except BadInputError as exc:
            raise BadInputError(f"{exc}; the journal itself is intact: make room and rerun the "
                                "same command") from None
        for shard in shards:
            shard.path.unlink(missing_ok=True)


def _check(path: Path, lineno: int, rec: Any) -> tuple[str, str | None, str | None]:
    """(key, prediction or None, error or None) of a decoded journal line (None when the
    line is not JSON) that is not of the common shape; an error names the line."""
    where = f"{path}: line {lineno}"
    if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
        raise BadInputError(f"{where}: corrupt journal line (expected {{\"id\", \"prediction\"}}"
                            "); delete it (or the file, to generate the task again)")
    raw_id, prediction, error = rec["id"], rec["prediction"], rec.get("error")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise BadInputError(f"{where}: corrupt journal line (id {shown(raw_id)} is not an "
                            "integer or string); delete it")
    if prediction is not None and not isinstance(prediction, str):
        raise BadInputError(f"{where}: corrupt journal line (prediction {shown(prediction)} is "
                            "not a string); delete it")
    if error is not None and not isinstance(error, str):
        error = shown(error)
    return str(raw_id), prediction, error


def _checked(path: Path, lineno: int, line: str, rec: dict[str, Any]) -> dict[str, Any]:
    """A decoded journal line that may repeat a key (a JSON decoder keeps the last copy,
    silently) or hold a lone surrogate (which no UTF-8 output can hold): the first is an
    error naming the line, the second reads as U+FFFD (as the journal writes it)."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise BadInputError(f"{path}: line {lineno}: corrupt journal line (key "
                                    f"{shown(key)} appears twice); delete it (or the file, to "
                                    "generate the task again)")
            seen.add(key)
        return dict(items)

    json.loads(line, object_pairs_hook=pairs)
    return {k: unicode_text(v) if isinstance(v, str) else v for k, v in rec.items()}


def _first_line(text: str, key: str) -> int:
    """The number of the first line journaling ``key`` (for an error message)."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if (isinstance(rec, dict) and str(rec.get("id")) == key
                and rec.get("prediction") is not None):
            return lineno
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _undo(fd: int, size: int) -> None:
    """Cut a partly written append back to the journal's former size (best effort)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)


def _record(sample_id: int | str, prediction: str, error: str | None) -> dict[str, object]:
    record: dict[str, object] = {"id": sample_id, "prediction": str(prediction)}
    if isinstance(prediction, ScoredText):
        record["logprobs"], record["tokens"] = list(prediction.logprobs), list(prediction.tokens)
    if error is not None:
        record["error"] = error
    return record
