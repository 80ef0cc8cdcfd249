"""A restricted unpickler for data files (e.g. the RefCOCO ``refs(*).p``): plain containers,
strings and numbers only.

A pickle can run arbitrary code while it loads, but only through a callable it obtains by
naming a global (``GLOBAL``/``STACK_GLOBAL``/``INST``, or an ``EXT`` code that resolves to one) or
through a persistent id. Every global is refused before it is imported, persistent ids are
refused, and the ``copyreg`` extension cache (which can hand a previously resolved global to
``EXT`` without asking :meth:`find_class`) is cleared first. The data opcodes that remain can
only build ``None``/bool/int/float/str/bytes/list/tuple/dict/set values, none of which is
callable, so nothing in the file can execute. The fast C unpickler still does the work (a
pure-Python opcode scan would take several seconds on a RefCOCO refs file).
"""

from __future__ import annotations

import copyreg
import io
import pickle
from pathlib import Path
from typing import Any, NoReturn

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.inputs import read_bytes
from infmllm_eval.jsonio import no_gc


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle names a global (a module attribute) and was refused."""


class _PlainUnpickler(pickle.Unpickler):
    """Refuses every global and every persistent id."""

    def find_class(self, module: str, name: str) -> NoReturn:
        raise RefusedGlobalError(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> NoReturn:
        raise pickle.UnpicklingError(f"persistent id {shown(pid, 40)} is not allowed")


def loads_plain(data: bytes, encoding: str = "utf-8") -> Any:
    """Unpickle ``data`` holding only plain values; a global raises RefusedGlobalError.

    Python-2 ``str`` values (protocol 0-2 ``STRING`` opcodes) are decoded with ``encoding``.
    """
    copyreg.clear_extension_cache()
    with no_gc():
        return _PlainUnpickler(io.BytesIO(data), encoding=encoding).load()


def load_plain_pickle(path: Path, what: str = "pickle file") -> Any:
    """Load a pickle of plain data, or a one-line BadInputError naming the file.

    Python-2 byte strings are decoded as UTF-8; a file where that fails is read again with
    Latin-1 (every byte maps to one character), as Python 2 had no declared encoding.
    """
    data = read_bytes(path, what)
    try:
        try:
            return loads_plain(data, "utf-8")
        except UnicodeDecodeError:
            return loads_plain(data, "latin1")
    except RefusedGlobalError as exc:
        raise BadInputError(
            f"{path}: refusing to load this {what}: it names the global {exc} (a pickle that "
            "names globals can run code); only plain lists, dicts, strings and numbers are "
            "accepted - use the original file"
        ) from None
    except RecursionError:
        raise BadInputError(f"{path}: {what} is nested too deeply") from None
    except Exception as exc:  # a corrupt stream surfaces as many exception types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: not a readable {what} ({reason})") from None
