"""A broken plug-in (tests/plugin with one part spoiled) ends in one clear line and exit 2, or
for an exception inside its code, in its traceback and exit 3 — never a silently wrong score.
Found by a hostile review of the plug-in contracts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.errors import BadInputError
from infmllm_eval.toy import DATA_ROOT
from infmllm_eval.types import Request, Response

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugin"


def spoiled(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the test plug-in with ``old`` replaced by ``new`` in ``file``."""
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN, copy)
    path = copy / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new))
    return copy


def cli(plugin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)]),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "infmllm_eval", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def run(plugin: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return cli(plugin, "run", "--model", "word-counter", "--tasks", "word_count", "--data-root",
               str(plugin / "data"), "--output-dir", str(tmp_path / "runs"))


def one_line(res: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """Exit ``code`` with one error line holding ``text`` (a progress bar may precede it)."""
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.returncode == code and len(lines) == 1 and "Traceback" not in res.stderr, \
        res.stderr
    assert text in lines[0], lines[0]


SPOILS = {
    "duplicate_ids": ("wordcount_plugin/loader.py", "    return samples\n",
                      "    return samples + samples[:1]\n", "duplicate sample id '1'"),
    "family_name": ("wordcount_plugin/family.py", 'name = "word_count"', 'name = "vqa"',
                    "its name field is 'vqa', not the name it is registered under"),
    "int_text": ("wordcount_plugin/adapter.py", "Response(req.key, str(len(text.split()) + "
                 "self.bias))", "Response(req.key, len(text.split()))",
                 "answered with a non-text response"),
    "style_type": ("wordcount_plugin-0.1.dist-info/entry_points.txt",
                   "plain = wordcount_plugin.style:PLAIN", "plain = wordcount_plugin.style:__doc__",
                   "prompt style 'plain' is a str, not a PromptStyle"),
    "cards_missing": ("wordcount_plugin-0.1.dist-info/entry_points.txt",
                      "wordcount_plugin = wordcount_plugin.cards",
                      "wordcount_plugin = no_such_package.cards", "cannot be found"),
    "nan_primary": ("wordcount_plugin/family.py", '"exact": mean(r.score for r in scored)',
                    '"exact": float("nan")', "primary metric exact as NaN"),
    "undeclared_metric": ("wordcount_plugin/family.py", '"answered": mean(answered)}',
                          '"answered": mean(answered), "bonus": 1.0}',
                          "metric 'bonus' is not among the family's declared metrics"),
}


@pytest.mark.parametrize("name", sorted(SPOILS))
def test_a_spoiled_plugin_is_refused_in_one_line(name: str, tmp_path: Path) -> None:
    file, old, new, message = SPOILS[name]
    one_line(run(spoiled(tmp_path, file, old, new), tmp_path), 2, message)


def test_an_exception_in_plugin_code_shows_its_traceback_and_exit_3(tmp_path: Path) -> None:
    plugin = spoiled(tmp_path, "wordcount_plugin/adapter.py", "        out = []\n",
                     "        raise RuntimeError('the model server is down')\n")
    res = run(plugin, tmp_path)
    assert res.returncode == 3, res.stderr  # not 1: that is "gate failed"
    assert "Traceback" in res.stderr and "adapter.py" in res.stderr
    assert "internal error: RuntimeError: the model server is down" in res.stderr


def test_the_gate_refuses_a_metric_no_installed_family_declares(tmp_path: Path) -> None:
    """Without the plug-in the gate cannot know abs_error is lower-is-better: a guess of
    higher-is-better passed a regression."""
    assert run(PLUGIN, tmp_path).returncode == 0
    run_dir = next((tmp_path / "runs").iterdir())
    base = tmp_path / "base.json"
    assert cli(PLUGIN, "baseline", str(run_dir), "-o", str(base)).returncode == 0
    empty = tmp_path / "none"
    empty.mkdir()
    res = cli(empty, "gate", str(run_dir), "--baseline", str(base),
              "--metric", "word_count.abs_error=0.5")
    one_line(res, 2, "family 'word_count' is not installed, so the gate cannot tell")


class Named(ModelAdapter):
    def __init__(self, name: str) -> None:
        self.name = name

    def generate(self, requests: list[Request]) -> list[Response]:
        return [Response(r.key, "yes") for r in requests]


def test_the_api_refuses_what_would_go_wrong_silently(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="plain folder name"):  # it names the run folder
        infmllm_eval.evaluate(Named("../../escape"), "toy_mme", data_root=DATA_ROOT,
                              output_dir=tmp_path)
    assert not (tmp_path.parent.parent / "escape").exists()
    for limit in (-1, 0):
        with pytest.raises(BadInputError, match="expected a positive number of samples"):
            infmllm_eval.evaluate(Named("m"), "toy_mme", data_root=DATA_ROOT,
                                  output_dir=tmp_path, limit=limit)
    with pytest.raises(BadInputError, match="expected task or group names"):
        infmllm_eval.evaluate(Named("m"), [], data_root=DATA_ROOT, output_dir=tmp_path)
    with pytest.raises(BadInputError, match="expected a model card name or a ModelAdapter"):
        infmllm_eval.evaluate(object(), "toy_mme", data_root=DATA_ROOT,  # type: ignore[arg-type]
                              output_dir=tmp_path)
    with pytest.raises(BadInputError, match="got NoneType"):
        infmllm_eval.score("toy_vqa", {"10100000": None},  # type: ignore[dict-item]
                           data_root=DATA_ROOT, allow_partial=True)
