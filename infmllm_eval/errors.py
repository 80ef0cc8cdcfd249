"""One exception root for the package; every user-facing failure is an InfmllmEvalError."""

from __future__ import annotations

import reprlib

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3  # an unexpected exception: a bug here or in a plug-in


class InfmllmEvalError(Exception):
    """Base class: a message a user can act on (what, where, what to do).

    The message is one line: a line break or another control character that came from a data
    file (an image name, an id, a column value) is shown escaped (``\\n``, ``\\x1b``,
    ``\\u2028``), so it can neither split the message nor drive the terminal."""

    exit_code = EXIT_BAD_INPUT

    def __str__(self) -> str:
        text = super().__str__()
        return text if text.isprintable() else one_line(text)


class BadInputError(InfmllmEvalError):
    """A file, option or name given by the user is missing, malformed or inconsistent."""


class MissingToolError(BadInputError):
    """An external program a metric needs (Java for the caption metrics) is not installed: a
    run leaves that task unscored (its predictions kept) and scores the others."""


class CardError(BadInputError):
    """A task or model card failed validation."""


class UnknownNameError(BadInputError):
    """A task, group, model or variant name is not registered."""


class _Short(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # str() of a huge int is slow, and refused past 4,300 digits
            return f"<integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_SHORT = _Short()
_SHORT.maxlevel, _SHORT.maxtuple, _SHORT.maxlist, _SHORT.maxarray = 3, 4, 4, 4
_SHORT.maxdict, _SHORT.maxset, _SHORT.maxfrozenset, _SHORT.maxdeque = 4, 4, 4, 4
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 60, 60, 40


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` bounded for an error message: nesting, items and long strings or
    numbers are elided (so a shared-reference bomb or a 5,000-digit int costs nothing), and
    the result is at most ``limit`` characters."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """``text`` with every non-printable character (line breaks such as ``\\n``, ``\\r``,
    U+0085, U+2028, terminal escapes, bidi overrides) written as its escape sequence."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
