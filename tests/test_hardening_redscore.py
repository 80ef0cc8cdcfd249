"""Red-team cases of the score/data/report side that do not fit the bad-input corpus (a
command whose normal answer to bad data is a table and exit 2, messages built in-process)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from infmllm_eval.errors import BadInputError
from tests.bad_inputs.gen_redscore import redscore_image, redscore_refs_pickle
from tests.conftest import CliResult

VALID = Path(__file__).resolve().parent / "bad_inputs" / "_valid"
Cli = Callable[..., CliResult]


def _refcoco(tmp_path: Path, file_name: str) -> list[str]:
    redscore_refs_pickle(str(tmp_path / "refs.p"), str(VALID / "refcoco" / "refs.json"))
    redscore_image(str(tmp_path / "images" / "COCO_train2014_000000000100.jpg"))
    doc = json.loads((VALID / "refcoco" / "instances.json").read_text(encoding="utf-8"))
    doc["images"][0]["file_name"] = file_name
    (tmp_path / "instances.json").write_text(json.dumps(doc), encoding="utf-8")
    return ["--tasks", "refcoco_val", "--file", f"refs={tmp_path / 'refs.p'}",
            "--file", f"instances={tmp_path / 'instances.json'}",
            "--file", f"images={tmp_path / 'images'}"]


@pytest.mark.parametrize("name", ["a" * 5000 + ".jpg", "/".join(["d" * 200] * 30) + ".jpg"])
def test_data_check_image_name_the_os_refuses(cli: Cli, tmp_path: Path, name: str) -> None:
    """An image name too long for the OS is an image that cannot be there: counted missing
    (exit 2, the table), not an OSError traceback."""
    res = cli("data", "check", *_refcoco(tmp_path, name))
    assert res.code == 2 and "Traceback" not in res.out + res.err
    assert "INCOMPLETE" in res.out and "1 image file(s)" in res.out


def test_data_check_image_fifo_or_folder_is_not_found(cli: Cli, tmp_path: Path) -> None:
    """A FIFO or a folder where the image should be is reported (a run refuses both), and
    checking does not open the FIFO (that would block)."""
    args = _refcoco(tmp_path, "pipe.jpg")
    os.mkfifo(tmp_path / "images" / "pipe.jpg")
    res = cli("data", "check", *args)
    assert res.code == 2 and "1 image file(s)" in res.out
    good = cli("data", "check", *_refcoco(tmp_path, "COCO_train2014_000000000100.jpg"))
    assert "image file(s)" not in good.out


@pytest.mark.parametrize("char", ["\n", "\r", "\x1b", "\x85", "\u2028", "\u2029", "\x0b",
                                  "\x0c", "\x1c", "\u202e", "\x00"])
def test_error_message_is_one_line(char: str) -> None:
    """Whatever a data file puts in a value that ends up in a message, the message stays
    one printable line (a line break or a terminal escape is shown escaped)."""
    text = str(BadInputError(f"data.json: image {'x' + char + 'y'}: not found"))
    assert text.isprintable() and len(text.splitlines()) == 1
    assert text.startswith("data.json: image x\\") and text.endswith("y: not found")


def test_plain_message_unchanged() -> None:
    message = "a/b.json: question_id 11: no answers; fix the file — ça va 中"
    assert str(BadInputError(message)) == message


def _metrics(path: Path, model: str, task: str = "vqav2_val") -> Path:
    entry = {"family": "vqa", "primary_metric": "accuracy", "metrics": {"accuracy": 50.0},
             "variant": {}, "n_samples": 2, "n_scored": 2, "n_missing": 0}
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps({"run_id": "r", "model": model,
                                                   "tasks": {task: entry}}), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "a\u2028b", "a\x85b", "a|b\n# heading"])
def test_report_markdown_rows_survive_line_breaks_in_names(cli: Cli, tmp_path: Path,
                                                           name: str) -> None:
    """A model or task name with a line break (from a results file) stays in its row: every
    table line of the Markdown report starts and ends with '|'."""
    run = _metrics(tmp_path / "run", name, task=name.replace("|", "_") + "_task")
    other = _metrics(tmp_path / "other", "plain")
    res = cli("report", str(run), str(other))
    assert res.code == 0, res.err
    table = res.out.split("\n\n")[0].strip().split("\n")
    assert len(table) == 4  # header, rule, two rows
    assert all(line.startswith("|") and line.endswith("|") for line in table)


def test_report_markdown_escapes_html(cli: Cli, tmp_path: Path) -> None:
    res = cli("report", str(_metrics(tmp_path / "run", "<script>alert(1)</script>")))
    assert res.code == 0 and "<script>" not in res.out and "&lt;script>" in res.out


def test_list_and_data_check_show_card_text_literally(cli: Cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Card fields are shown as text: '[/red]' (Rich markup: a MarkupError traceback before)
    and a terminal escape in a user card do not reach the terminal as markup or control."""
    card = (Path(__file__).resolve().parents[1] / "tasks" / "vqav2_val.yaml").read_text(
        encoding="utf-8")
    card = (card.replace("name: vqav2_val", "name: my_vqa")
            .replace("groups: [vqav2, vqa]", 'groups: ["[/]", "[bold]g"]')
            .replace("split: val", 'split: "[/red]"'))
    card = "\n".join(line for line in card.splitlines() if not line.startswith("description"))
    card += '\ndescription: "[red]x[/blue] \\x1b[2J"\n'
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "my_vqa.yaml").write_text(card, encoding="utf-8")
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp_path))
    for args in (["list", "tasks"], ["list", "tasks", "--details"]):
        res = cli(*args)
        assert res.code == 0 and "Traceback" not in res.out + res.err, res.err
        assert "[/red]" in res.out and "\x1b[2J" not in res.out
    assert "[/], [bold]g" in cli("list", "tasks", "--details").out
    folder = tmp_path / "[/red]"  # a path holding markup, shown by data check
    res = cli("data", "check", "--tasks", "my_vqa", "--file", f"questions={folder}/q.json")
    assert res.code == 2 and "Traceback" not in res.out + res.err, res.err
    assert "[/red]/q.json" in "".join(res.out.split())
