"""Append-only predictions journal: a line per response, flushed and fsynced per batch."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from infmllm_eval.errors import BadInputError


@dataclass
class Journal:
    """``predictions/<task>.jsonl`` of a run; what it holds is never rewritten, only appended."""

    path: Path
    dropped_torn_line: bool = field(default=False, init=False)

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
        for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            try:
                rec = json.loads(line)
                done[str(rec["id"])] = str(rec["prediction"])
            except (ValueError, KeyError, TypeError):
                raise BadInputError(f"{self.path}: corrupt journal line {lineno}") from None
        return done

    def append(self, rows: list[tuple[int | str, str]]) -> None:
        """Append (native id, prediction) rows and make them durable before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps({"id": i, "prediction": p}, ensure_ascii=False) + "\n"
                       for i, p in rows)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
