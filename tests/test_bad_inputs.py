"""The bad-input corpus (tests/bad_inputs/cases*.json, described in the "about" of cases.json):
every case is either handled correctly, or ends with exit code 2 and one line naming the file at
fault - no traceback, no partial output, no input file changed, and (with "timeout") within a
bound that only a hang or a runaway read exceeds. Cases marked xfail are harness bugs: their
expectation is the correct behaviour, so they start passing (and strict xfail fails) once the
bug is fixed."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from PIL import Image

from infmllm_eval.data.images import load_image
from infmllm_eval.data.mmbench import load_mmbench
from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import load_state_dict
from tests.bad_inputs.generators import GENERATORS
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
MANIFESTS: list[dict[str, Any]] = [json.loads(p.read_text(encoding="utf-8"))
                                   for p in sorted(CORPUS.glob("cases*.json"))]
CASES: list[dict[str, Any]] = [c for m in MANIFESTS for c in m["cases"]]
TEMPLATES: dict[str, list[str]] = {k: v for m in MANIFESTS for k, v in m.get("templates",
                                                                            {}).items()}


def _first_mmbench_image(tsv: str) -> Image.Image:
    """Load an MMBench TSV and decode the image of its first row."""
    samples = load_mmbench({"tsv": Path(tsv)}, {})
    return load_image(samples[0].image or "")


CALLS: dict[str, Callable[[str], Any]] = {
    "load_image": load_image,
    "mmbench_first_image": _first_mmbench_image,
    "load_state_dict": load_state_dict,
}


class Outcome(NamedTuple):
    """What a case produced: exit code, stdout, stderr and (for a call) the value returned."""

    code: int
    out: str
    err: str
    value: Any = None


def _params() -> list[Any]:
    return [pytest.param(case, id=case["id"],
                         marks=[pytest.mark.xfail(strict=True, reason=case["xfail"])]
                         if "xfail" in case else [])
            for case in CASES]


def _fill(text: str, places: dict[str, str]) -> str:
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def _argv(case: dict[str, Any], places: dict[str, str]) -> list[str]:
    items: list[str] = []
    for item in case["argv"]:
        items += TEMPLATES[item] if item.startswith("@") else [item]
    return [_fill(item, places) for item in items]


def _prepare(case: dict[str, Any], root: Path, monkeypatch: pytest.MonkeyPatch,
             ) -> dict[str, str]:
    """Copy the case's fixtures and the shared valid data under ``root`` (nothing is ever
    written into the repository), run the generators and set the environment."""
    places = {"case": str(root / "case"), "valid": str(root / "valid"), "tmp": str(root / "tmp")}
    source = CORPUS / case["id"]
    if source.is_dir():
        shutil.copytree(source, root / "case")
    else:
        (root / "case").mkdir()
    shutil.copytree(CORPUS / "_valid", root / "valid")
    (root / "tmp").mkdir()
    for spec in case.get("generate", []):
        args = {k: _fill(v, places) for k, v in spec.items() if k != "fn"}
        Path(args["out"]).parent.mkdir(parents=True, exist_ok=True)
        GENERATORS[spec["fn"]](**args)
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, _fill(value, places))
    return places


def _execute(case: dict[str, Any], places: dict[str, str], cli: Cli) -> Outcome:
    if "argv" in case:
        res = cli(*_argv(case, places))
        return Outcome(res.code, res.out, res.err)
    name, *args = case["call"]
    try:
        value = CALLS[name](*[_fill(a, places) for a in args])
    except BadInputError as exc:
        return Outcome(2, "", f"error: {exc}")
    return Outcome(0, "", "", value)


def _files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _digests(*roots: Path) -> dict[str, str]:
    """sha256 of every regular file under ``roots`` (the inputs a command must not change)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for root in roots
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
            and p.stat().st_size < (1 << 26)}


class _TimedOut(Exception):
    pass


def _bounded(case: dict[str, Any], places: dict[str, str], cli: Cli) -> Outcome:
    """Run the case; with "timeout" (seconds) a hang or runaway read fails the test instead
    of blocking the suite (SIGALRM interrupts the main thread)."""
    seconds = int(case.get("timeout", 0))
    if not seconds:
        return _execute(case, places, cli)

    def alarm(signum: int, frame: Any) -> None:
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return _execute(case, places, cli)
    except _TimedOut:
        pytest.fail(f"{case['id']}: still running after {seconds} s (a hang or a runaway read)")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check_error(expect: dict[str, Any], got: Outcome, created: set[str],
                 leaves: list[str], places: dict[str, str]) -> None:
    assert got.code == 2, f"exit code {got.code}, expected 2\n{got.err}"
    assert "Traceback" not in got.out + got.err
    # a run's plain progress lines (stderr is not a terminal here) come before the error
    lines = [line for line in got.err.splitlines()
             if line.strip() and not line.startswith("progress: ")]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{got.err}"
    assert lines[0].startswith("error: ")
    assert _fill(expect["message"], places) in lines[0]
    names = _fill(expect["names"], places)
    assert names in lines[0], f"the message does not name {names!r}"
    unexpected = {p for p in created if not any(fnmatch.fnmatch(p, g) for g in leaves)}
    assert not unexpected, f"a failed command left outputs: {sorted(unexpected)}"


def _at(doc: Any, path: str) -> Any:
    for part in path.split("/"):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _check_image(spec: dict[str, Any], img: Any) -> None:
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    assert list(img.size) == spec["size"]
    for x, y, rgb in spec["pixels"]:
        pixel = img.getpixel((x, y))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= spec["tolerance"] for a, b in zip(pixel, rgb, strict=True)), \
            f"pixel ({x}, {y}) is {pixel}, expected about {rgb}"


def _check_ok(expect: dict[str, Any], got: Outcome, places: dict[str, str]) -> None:
    assert got.code == 0, got.err
    assert "Traceback" not in got.out + got.err
    if "json" in expect:
        doc = json.loads(Path(_fill(expect["json"]["file"], places)).read_text(encoding="utf-8"))
        for path, value in expect["json"]["values"].items():
            assert _at(doc, path) == (pytest.approx(value) if isinstance(value, float) else value)
    if "image" in expect:
        _check_image(expect["image"], got.value)
    if "stderr" in expect:
        assert expect["stderr"] in " ".join(got.err.split())


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: dict[str, Any], cli: Cli, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    places = _prepare(case, tmp_path, monkeypatch)
    before = _files(tmp_path)
    inputs = _digests(tmp_path / "case", tmp_path / "valid")
    got = _bounded(case, places, cli)
    expect = case["expect"]
    after = _digests(tmp_path / "case", tmp_path / "valid")
    may_change = [_fill(g, places) for g in case.get("changes", [])]
    changed = {p for p in inputs if inputs[p] != after.get(p)
               and not any(fnmatch.fnmatch(p, g) for g in may_change)}
    assert not changed, f"input files changed or removed: {sorted(changed)}"
    if expect["outcome"] == "error":
        leaves = [_fill(g, places) for g in case.get("leaves", [])]
        _check_error(expect, got, _files(tmp_path) - before, leaves, places)
    else:
        _check_ok(expect, got, places)
    for path in case.get("absent", []):
        assert not Path(_fill(path, places)).exists(), f"{path} exists: code was executed"


def test_corpus_is_complete_and_small() -> None:
    """At least 200 cases with unique ids, every fixture folder used by a case, < 400 KB."""
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 200 and len(set(ids)) == len(ids)
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_")
               and p.name != "__pycache__"}
    assert folders <= set(ids), f"fixture folders without a case: {sorted(folders - set(ids))}"
    for case in CASES:
        assert case["expect"]["outcome"] in ("ok", "error")
        assert ("argv" in case) != ("call" in case)
        for spec in case.get("generate", []):
            assert spec["fn"] in GENERATORS
    size = sum(p.stat().st_size for p in CORPUS.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts)
    assert size < 400_000
