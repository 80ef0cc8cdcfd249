"""An exclusive lock on a run directory for the life of a run.

``<run dir>/run.lock`` is locked with ``flock`` and holds the holder's pid, host and start
time. A second process on the same run directory is refused, naming the holder. The kernel
releases a ``flock`` when its process dies, so a lock file left by a killed run is stale: it
is taken over with a notice. A clean exit removes the file. Under torchrun only rank 0 locks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infmllm_eval.engine.progress import notice
from infmllm_eval.errors import BadInputError, shown

LOCK_NAME = "run.lock"


@dataclass
class RunLock:
    """A held lock; :meth:`release` (or leaving the ``with`` block) gives it up."""

    run_dir: Path
    fd: int
    created_dir: bool

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_NAME

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            if _same_file(self.fd, self.path):
                self.path.unlink()
        os.close(self.fd)  # closing releases the flock
        self.fd = -1
        if self.created_dir:  # a run that failed before writing anything leaves nothing
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _holder(fd: int) -> dict[str, Any]:
    """What a lock file says of its holder ({} when empty or unreadable)."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _alive(pid: Any) -> bool:
    """Whether a process of this pid runs on this machine (another one may have reused it)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def describe(info: dict[str, Any]) -> str:
    """'pid 123 on host h, since 2026-…' (what is known of it)."""
    if not info:
        return "an unknown process (the lock file holds no pid)"
    text = f"pid {_plain(info.get('pid'))} on host {_plain(info.get('host'))}"
    return text + (f", since {_plain(info['started'])}" if "started" in info else "")


def _plain(value: Any) -> str:
    """A value read from a lock file, short and printable (unquoted when a plain string or
    a small integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 64:
        return str(value)
    if isinstance(value, str) and len(value) <= 64 and value.isprintable():
        return value
    return shown(value, 64)


def acquire(run_dir: Path) -> RunLock:
    """Lock ``run_dir`` (created when missing) or raise a BadInputError naming the holder."""
    created = not run_dir.exists()
    if not created and not run_dir.is_dir():
        raise BadInputError(f"{run_dir}: not a folder, cannot hold a run; choose another "
                            "--output-dir or --run-name")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create the run directory {run_dir} "
                            f"({exc.strerror or exc}); choose another --output-dir") from None
    try:
        import fcntl  # POSIX only
    except ImportError:  # no flock on this platform: run unlocked, as before
        return RunLock(run_dir, -1, False)

    path = run_dir / LOCK_NAME
    while True:
        try:  # never through a symlink: the lock would write its holder into its target
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_NONBLOCK", 0), 0o644)
        except OSError as exc:
            if path.is_symlink():
                raise BadInputError(f"{path}: is a symbolic link, not the lock file of a run; "
                                    "remove it if it is not a file") from None
            hint = ("the run directory cannot be written: choose another --output-dir"
                    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC,
                                     errno.EDQUOT)
                    else "remove it if it is not a file")
            raise BadInputError(f"{path}: cannot open the run lock ({exc.strerror or exc}); "
                                f"{hint}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device …: not ours to write
            os.close(fd)
            raise BadInputError(f"{path}: not a regular file, where the run keeps its lock; "
                                "move it away")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise BadInputError(
                f"{run_dir}: another run is using this run directory ({describe(holder)}); "
                "wait for it to finish, or use another --run-name / --new-run") from None
        except OSError as exc:  # a file system without locks
            os.close(fd)
            raise BadInputError(f"{path}: cannot lock the run directory "
                                f"({exc.strerror or exc}); use another --output-dir") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the previous holder removed the file as we opened it: lock the new one
    previous = _holder(fd)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_size:
            gone = (previous.get("host") == socket.gethostname()
                    and not _alive(previous.get("pid")))
            notice(f"{path}: took over a stale lock left by {describe(previous)} "
                   f"({'that process is gone' if gone else 'it no longer holds the lock'})")
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError as exc:
        lock = RunLock(run_dir, fd, created)
        lock.release()
        raise BadInputError(f"{path}: cannot write the run lock ({exc.strerror or exc}); "
                            "make room and rerun") from None
    return RunLock(run_dir, fd, created)
