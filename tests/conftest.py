"""Shared fixtures: the conformance folder, a CLI runner that goes through main()."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from infmllm_eval.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INFMLLM_EVAL_SHARED", ROOT.parent / "shared"))
CONFORMANCE = SHARED / "conformance"
# checkpoint hashes are remembered in a file of the test session, not the user's cache
os.environ.setdefault("INFMLLM_EVAL_HASH_CACHE",
                      str(Path(tempfile.mkdtemp(prefix="infmllm-hashes-")) / "sha256.json"))


@pytest.fixture
def conformance() -> Path:
    """../shared/conformance, or a skip saying why."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"{CONFORMANCE} is not present: the reference material lives outside the "
                    "repository (set INFMLLM_EVAL_SHARED to the shared/ folder)")
    return CONFORMANCE


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        ) -> Callable[..., CliResult]:
    """Run `infmllm-eval ARGS` in-process through main(), as the console script does."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["infmllm-eval", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
