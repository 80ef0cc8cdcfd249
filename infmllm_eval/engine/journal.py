"""Append-only predictions journal: a line per response, flushed and fsynced per batch."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import write_atomic


@dataclass
class Journal:
    """``predictions/<task>.jsonl`` of a run; what it holds is never rewritten, only appended."""

    path: Path
    dropped_torn_line: bool = field(default=False, init=False)
    failed: dict[str, str] = field(default_factory=dict, init=False)

    def read(self) -> dict[str, str]:
        """Key -> prediction of what is already journaled.

        A last line without its newline (the process died mid-write) is cut off and reported
        through ``dropped_torn_line``; a malformed line elsewhere is an error.
        """
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
            data, self.dropped_torn_line = data[:keep], True
        done: dict[str, str] = {}
        self.failed = {}
        for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            try:
                rec = json.loads(line)
                done[str(rec["id"])] = str(rec["prediction"])
            except (ValueError, KeyError, TypeError):
                raise BadInputError(f"{self.path}: corrupt journal line {lineno}") from None
            if "error" in rec:
                self.failed[str(rec["id"])] = str(rec["error"])
        return done

    def append(self, rows: list[tuple[int | str, str]],
               errors: dict[str, str] | None = None) -> None:
        """Append (native id, prediction) rows and make them durable before returning; a
        sample whose input failed is journaled with its ``error`` (and scores as wrong)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        errors = errors or {}
        text = "".join(json.dumps(_record(i, p, errors.get(str(i))), ensure_ascii=False) + "\n"
                       for i, p in rows)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def canonicalize(self, order: list[int | str]) -> None:
        """Rewrite the finished journal in sample order (atomically), so that the predictions
        file is byte-identical whatever the batch size or batch order was."""
        done = self.read()
        keys = [str(i) for i in order if str(i) in done]
        native = {str(i): i for i in order}
        text = "".join(json.dumps(_record(native[k], done[k], self.failed.get(k)),
                                  ensure_ascii=False) + "\n" for k in keys)
        write_atomic(self.path, text)


def _record(sample_id: int | str, prediction: str, error: str | None) -> dict[str, object]:
    record: dict[str, object] = {"id": sample_id, "prediction": prediction}
    if error is not None:
        record["error"] = error
    return record
