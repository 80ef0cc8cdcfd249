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

    def shard(self, rank: int) -> Journal:
        """The journal rank ``rank`` of a distributed run appends to."""
        return Journal(self.path.with_name(f"{self.path.stem}.rank{rank}.jsonl"))

    def shards(self) -> list[Journal]:
        """Shard journals present (from this or an earlier run, of any world size)."""
        return [Journal(p) for p in sorted(self.path.parent.glob(f"{self.path.stem}.rank*.jsonl"))]

    def read_all(self) -> dict[str, str]:
        """What this journal and every shard hold (``failed`` covers them all)."""
        done, failed = self.read(), dict(self.failed)
        for shard in self.shards():
            done.update(shard.read())
            failed.update(shard.failed)
        self.failed = failed
        return done

    def canonicalize(self, order: list[int | str]) -> None:
        """Merge the shards into this journal and rewrite it in sample order (atomically; the
        shards go once merged), so the predictions file is byte-identical whatever the batch
        size, batch order or number of processes was."""
        shards = self.shards()
        done = self.read_all()
        keys = [str(i) for i in order if str(i) in done]
        native = {str(i): i for i in order}
        text = "".join(json.dumps(_record(native[k], done[k], self.failed.get(k)),
                                  ensure_ascii=False) + "\n" for k in keys)
        write_atomic(self.path, text)
        for shard in shards:
            shard.path.unlink(missing_ok=True)


def _record(sample_id: int | str, prediction: str, error: str | None) -> dict[str, object]:
    record: dict[str, object] = {"id": sample_id, "prediction": prediction}
    if error is not None:
        record["error"] = error
    return record
