"""Input files checked before they are read: regular files under a size cap, pipes waited on
for a bounded time, no devices, no sparse files of gigabytes (a policy per kind of input)."""

from __future__ import annotations

import io
import os
import select
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from infmllm_eval.errors import BadInputError


@dataclass(frozen=True)
class InputPolicy:
    """What a reader accepts as an input file, checked by :func:`check_input` before anything
    is read: a regular file of at most ``max_bytes`` (a sparse file of gigabytes is refused
    unread), a FIFO only where ``pipes`` (then waited on for at most PIPE_WAIT_S), and, where
    ``nul``, no file starting with a NUL byte (a binary or sparse file). The messages are
    templates over ``what``, ``label`` (the path as shown), ``kind`` (see :func:`file_kind`),
    ``size`` / ``limit`` (bytes, with thousands separators) and ``mb`` / ``limit_mb``."""

    max_bytes: int | None = None
    pipes: bool = True
    nul: bool = True
    not_regular: str = "{what} {label} is {kind}, expected a file"
    too_large: str = "{what} {label}: {size} bytes, over the limit of {limit} bytes"
    error: type[BadInputError] = BadInputError


#: data files (JSON, JSONL, TSV, pickles): a pipe is read (``<(zcat f.gz)``), no size cap
DATA_FILE = InputPolicy()


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for a message."""
    return ("a directory" if stat.S_ISDIR(mode) else
            "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def starts_with_nul(head: bytes) -> bool:
    """Whether a file's first bytes (4 are enough) start with a NUL byte, after a UTF-8 BOM:
    no JSON, JSONL, TSV, text or pickle file starts so; a sparse file (a hole of gigabytes)
    does."""
    return head[3:4] == b"\0" if head.startswith(b"\xef\xbb\xbf") else head[:1] == b"\0"


def check_input(path: str | os.PathLike[str], what: str, policy: InputPolicy = DATA_FILE, *,
                info: os.stat_result | None = None, label: str | None = None,
                pipes: bool | None = None) -> os.stat_result:
    """``os.stat(path)`` (or ``info``, e.g. the fstat of the file opened), refused with
    ``policy.error`` when the policy does not accept it (see :class:`InputPolicy`; ``pipes``
    overrides the policy's). OSError (a missing file …) and ValueError (a NUL byte in the
    name) are left to the caller, whose messages name the file its own way."""
    if info is None:
        info = os.stat(path)
    mode = info.st_mode
    shown_as = str(path) if label is None else label
    if not stat.S_ISREG(mode) and not (
            (policy.pipes if pipes is None else pipes) and stat.S_ISFIFO(mode)):
        raise policy.error(policy.not_regular.format(what=what, label=shown_as,
                                                     kind=file_kind(mode)))
    if policy.max_bytes is not None and stat.S_ISREG(mode) and info.st_size > policy.max_bytes:
        raise policy.error(policy.too_large.format(
            what=what, label=shown_as, size=f"{info.st_size:,}", limit=f"{policy.max_bytes:,}",
            mb=f"{info.st_size / (1 << 20):,.0f} MB", limit_mb=policy.max_bytes >> 20))
    return info


def open_checked(path: str | os.PathLike[str], what: str, policy: InputPolicy = DATA_FILE, *,
                 label: str | None = None) -> BinaryIO | bytes:
    """A file that ``policy`` accepts, opened for reading (at its start): checked before it is
    opened (a device is never opened), opened without blocking (a FIFO put in its place
    since is not waited on) and checked again on what was opened. A FIFO the policy accepts
    comes back read whole, as bytes (see :func:`_read_pipe`). OSError and ValueError are
    left to the caller, as in :func:`check_input`."""
    if stat.S_ISFIFO(check_input(path, what, policy, label=label).st_mode):
        return _read_pipe(Path(path), what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        check_input(path, what, policy, info=os.fstat(fd), label=label, pipes=False)
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    if policy.nul:
        head = fh.read(4)
        if starts_with_nul(head):
            fh.close()
            raise policy.error(f"{what} {label or path}: starts with a NUL byte (a binary or "
                               "sparse file, not the data file expected); give the right file")
        fh.seek(0)
    return fh


@contextmanager
def input_errors(path: Path, what: str) -> Iterator[None]:
    """OSError as a BadInputError naming the file."""
    try:
        yield
    except FileNotFoundError:
        raise BadInputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise BadInputError(f"{what} {path} is a directory, expected a file") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_bytes(path: Path, what: str, policy: InputPolicy = DATA_FILE) -> bytes:
    """Whole file, or a BadInputError saying which file is missing/unreadable or not one
    ``policy`` accepts (by default: a device, such as /dev/zero, which never ends, or a file
    starting with a NUL byte is refused unread; a pipe is read: ``<(zcat f.gz)``)."""
    with input_errors(path, what):
        fh = open_checked(path, what, policy)
        if isinstance(fh, bytes):
            return fh
        with fh:
            data = fh.read()
    return data


def open_input(path: Path, what: str, policy: InputPolicy = DATA_FILE) -> BinaryIO:
    """A data file opened for streaming, with read_bytes' checks: a device is refused, a pipe
    is waited on for at most PIPE_WAIT_S, a regular file starting with a NUL byte (a sparse
    file of gigabytes) is refused before it is read."""
    with input_errors(path, what):
        fh = open_checked(path, what, policy)
    return io.BytesIO(fh) if isinstance(fh, bytes) else fh


#: how long a pipe may stay silent before its first byte (seconds; the environment variable
#: INFMLLM_EVAL_PIPE_WAIT_S overrides it): ``<(zcat f.gz)`` speaks at once, a named pipe
#: nobody writes to never would
PIPE_WAIT_S = 10.0


def _read_pipe(path: Path, what: str) -> bytes:
    """All of a pipe (``<(zcat f.gz)``, a named FIFO): opened without blocking, then waited
    on for at most PIPE_WAIT_S; a FIFO without a writer is refused instead of hanging."""
    wait = float(os.environ.get("INFMLLM_EVAL_PIPE_WAIT_S", PIPE_WAIT_S))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(int(wait * 1000)):
            raise BadInputError(f"{what} {path} is a named pipe (FIFO) that nothing wrote to "
                                f"in {wait:g} s; give a file, or start the writer first")
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
