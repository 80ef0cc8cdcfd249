"""One exception root for the package; every user-facing failure is an InfmllmEvalError."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2


class InfmllmEvalError(Exception):
    """Base class: a message a user can act on (what, where, what to do)."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(InfmllmEvalError):
    """A file, option or name given by the user is missing, malformed or inconsistent."""


class CardError(BadInputError):
    """A task or model card failed validation."""


class UnknownNameError(BadInputError):
    """A task, group, model or variant name is not registered."""
