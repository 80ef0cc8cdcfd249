"""Repository contracts: the README's commands are the ones CI runs; every command has help."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, CliResult

Cli = Callable[..., CliResult]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [m.strip() for m in re.findall(r"^    (python3 -m venv .*)$", text, flags=re.M)]


def test_ci_runs_the_readme_test_command() -> None:
    demo, tests = readme_commands()[:2]
    assert "infmllm-eval demo" in demo and "pip install ." in demo
    assert "torch==" in demo and "torch==" in tests  # never an unpinned multi-GB CUDA torch
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()
    assert "-eq 5" in ci  # pytest's "no tests collected" fails CI


@pytest.mark.parametrize("args", [
    [], ["list"], ["list", "tasks"], ["list", "models"], ["data"], ["data", "check"],
    ["score"], ["run"], ["demo"], ["report"], ["diff"], ["gate"], ["baseline"],
])
def test_every_command_has_help(cli: Cli, args: list[str]) -> None:
    res = cli(*args, "--help")
    assert res.code == 0
    assert "Usage" in res.out
    options = re.findall(r"^│ [* ]*(--[a-z-]+)(.*)│$", res.out, flags=re.M)
    assert options, "no options found in the help output"
    for name, rest in options:
        rest = re.sub(r"^\s*(<[^>]+>|[A-Z][A-Z=_]*)", "", rest)  # drop the metavar
        assert rest.strip(), f"option {name} of {args} has no help text"


def test_list_tasks_details(cli: Cli) -> None:
    res = cli("list", "tasks", "--details")
    assert res.code == 0
    for text in ("vqav2_val", "questions:", "normalization=always", "214,354"):
        assert text in res.out


def test_version(cli: Cli) -> None:
    res = cli("--version")
    assert res.code == 0 and res.out.startswith("infmllm-eval ")


def test_cards_ship_in_the_wheel_config() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"tasks" = "infmllm_eval/_cards/tasks"' in pyproject
    assert '"models" = "infmllm_eval/_cards/models"' in pyproject
    assert Path(ROOT / "infmllm_eval" / "demo" / "predictions").is_dir()


def test_readme_intro_lists_every_command_and_real_machine_setup() -> None:
    """Issue 28 items 10 and 12: 'What works today' names every command of the CLI; the set-up
    says what a machine other than the build machine needs."""
    import typer

    from infmllm_eval.cli import app

    readme = (ROOT / "README.md").read_text()
    intro = readme.split("Contents:", 1)[0]
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert len(commands) >= 10
    for name, command in commands.items():
        subs = getattr(command, "commands", None) or {}  # a group's subcommands
        for sub in subs or [""]:
            words = f"{name} {sub}".strip()
            assert f"`{words}" in intro or (sub and f"|{sub}" in intro), words
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "git clone" in quick and "Java 17" in quick
    assert "--index-url https://download.pytorch.org/whl/cpu" in quick
    assert '"infmllm-eval[lmms]"' not in readme  # no release on PyPI: install from the clone
