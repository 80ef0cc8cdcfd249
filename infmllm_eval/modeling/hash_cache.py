"""Remember checkpoint hashes by the files' identity, so a second load does not re-read them.

A 14 GB checkpoint takes ~8 s of SHA-256 (about 1.7 GB/s with SHA-NI) on every load. The hash
of a list of files is stored under a key made of each file's absolute path, device, inode,
size, modification and status-change times (nanoseconds), as git's index does: rewriting,
replacing or touching a file changes the key, so the hash is computed again. The cache is a
small JSON file in ``$INFMLLM_EVAL_HASH_CACHE`` (a file path; ``off`` disables it), else the
user's cache folder; it is only an optimisation: any error reading or writing it is ignored."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from infmllm_eval.errors import BadInputError
from infmllm_eval.jsonio import write_atomic

ENV = "INFMLLM_EVAL_HASH_CACHE"
MAX_ENTRIES = 512
MAX_BYTES = 4 << 20


def cache_file() -> Path | None:
    """Where hashes are kept, or None when the cache is off."""
    chosen = os.environ.get(ENV, "")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infmllm-eval" / "checkpoint-sha256.json"


def stat_key(files: list[Path]) -> str:
    """The identity of ``files`` as they are now (OSError when one cannot be stat'ed)."""
    parts = []
    for file in files:
        st = file.stat()
        parts.append([str(file.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                      st.st_ctime_ns])
    return json.dumps(parts, separators=(",", ":"))


def _regular(path: Path) -> bool:
    """True when ``path`` is a regular file (not a device, a FIFO, a folder)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _read(path: Path) -> dict[str, list[object]]:
    if not _regular(path):
        return {}
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_BYTES else {}
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def lookup(key: str) -> tuple[str, int] | None:
    """(sha256, size) recorded for ``key``, or None."""
    path = cache_file()
    entry = _read(path).get(key) if path else None
    if (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
            and len(entry[0]) == 64 and isinstance(entry[1], int)):
        return entry[0], entry[1]
    return None


def store(key: str, digest: str, size: int) -> None:
    """Record a hash (the oldest entries are dropped beyond MAX_ENTRIES)."""
    path = cache_file()
    if path is None or (path.exists() and not _regular(path)):  # never replace a device
        return
    data = _read(path)
    data.pop(key, None)
    data[key] = [digest, size]
    kept = dict(list(data.items())[-MAX_ENTRIES:])
    with contextlib.suppress(OSError, BadInputError):
        write_atomic(path, json.dumps(kept, separators=(",", ":")))
