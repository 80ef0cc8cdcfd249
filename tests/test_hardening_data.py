"""Issue 23, data area: what the bad-input corpus (tests/bad_inputs/cases_data.json) cannot
express - the exact duplicated-key check on every decode path (bytes, memory map, typed,
JSONL), its escapes, the YAML checks without libyaml, image names, and non-regular image files
refused without being opened."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import msgspec
import pytest
import yaml

from infmllm_eval import card_yaml, jsonio
from infmllm_eval.data import images
from infmllm_eval.data.common import image_paths, leaves_folder
from infmllm_eval.data.lmms_hf import _arrow_files
from infmllm_eval.errors import BadInputError, CardError

# ---- duplicated keys --------------------------------------------------------------------------


@pytest.mark.parametrize("text, key, where", [
    ('{"a": 1, "a": 2}', "a", "$"),
    ('[{"q": "1:2"}, {"q": "3", "b": {"c": 1, "c": 1}}]', "c", "$[1].b"),
    ('{"x": {"a:b": 1, "a:b": 1}}', "a:b", "$.x"),
    ('{"\\u0061": 1, "a": 2}', "a", "$"),            # one copy spelt with an escape
    ('{"a\\u003a": 1, "a:": 2}', "a:", "$"),         # a colon the byte count cannot see
    ('{"k": [[{"z": null, "z": null}]]}', "z", "$.k[0][0]"),  # even identical copies
])
def test_duplicated_key_is_refused_with_key_and_path(text: str, key: str, where: str) -> None:
    with pytest.raises(BadInputError) as err:
        jsonio.decode_json(text.encode(), Path("f.json"))
    message = str(err.value)
    assert message.startswith("f.json: line 1, column ")
    assert f"duplicated key {key!r} in the object at {where} " in message


@pytest.mark.parametrize("text", [
    '{"a": "x:y", "b": ":", "c": [":", {"d": "::"}]}',
    '{"a": "\\u003a", "b": "\\u003A"}',      # escaped colons, no duplicate
    '[":", "a\\":b", {"\\"": 1, "\\\\": 2}]',
    '{"a": {"a": {"a": 1}}}',                # the same key in nested objects is fine
    "[]", "3", '"a:b"',
])
def test_valid_json_is_not_refused(text: str) -> None:
    assert jsonio.decode_json(text.encode(), Path("f.json")) == json.loads(text)


def test_position_is_line_and_column_of_the_second_copy() -> None:
    text = b'{\n  "items": [\n    {"id": 1,\n     "id": 2}\n  ]\n}\n'
    with pytest.raises(BadInputError, match=r"line 4, column 6: duplicated key 'id' in the "
                                            r"object at \$\.items\[0\]"):
        jsonio.decode_json(text, Path("f.json"))


def test_typed_decode_is_checked(tmp_path: Path) -> None:
    class Item(msgspec.Struct):
        id: int

    path = tmp_path / "typed.json"
    path.write_text('[{"id": 1, "other": 0, "other": 1}]', encoding="utf-8")
    with pytest.raises(BadInputError, match="duplicated key 'other'"):
        jsonio.read_json(path, "typed file", list[Item])
    path.write_text('[{"id": 1, "other": 0}]', encoding="utf-8")
    assert jsonio.read_json(path, "typed file", list[Item]) == [Item(1)]


def test_memory_mapped_file_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAP_AT_BYTES", 10)  # the path large files take
    path = tmp_path / "big.json"
    path.write_text('{"rows": [{"a": 1}, {"a": 1, "b": 2, "a": 3}]}', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"duplicated key 'a' in the object at \$\.rows\[1\]"):
        jsonio.read_json(path)


def test_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "p": "a:b"}\n\n{"id": 2, "p": "x", "p": "y"}\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"rows\.jsonl: line 3, column 21: duplicated key 'p'"):
        list(jsonio.iter_jsonl(path))
    path.write_text('{"id": 1, "p": "a:b"}\n\n{"id": 2, "p": "\\u003a"}\n', encoding="utf-8")
    assert [n for n, _ in jsonio.iter_jsonl(path)] == [1, 3]


def test_typed_check_is_skipped_only_above_its_size(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented trade-off: typed decodes of files over CHECK_TYPED_BYTES (the 173 MB
    VQAv2 annotations) are not checked; untyped decodes always are."""
    monkeypatch.setattr(jsonio, "CHECK_TYPED_BYTES", 8)
    path = tmp_path / "f.json"
    path.write_text('{"a": 1, "a": 2}', encoding="utf-8")
    assert jsonio.read_json(path, kind=dict[str, int]) == {"a": 2}
    with pytest.raises(BadInputError):
        jsonio.read_json(path)


# ---- cards ------------------------------------------------------------------------------------


def _card(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nfamily: vqa\n" + body, encoding="utf-8")
    return path


def test_aliases_within_the_limit_still_work(tmp_path: Path) -> None:
    path = _card(tmp_path, "base: &b {split: val}\ncopy: *b\n")
    assert card_yaml.read_card_yaml(path)["copy"] == {"split": "val"}


@pytest.mark.parametrize("loader", ["fast", "pure"])
def test_bomb_and_depth_without_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        loader: str) -> None:
    if loader == "pure":
        monkeypatch.setattr(card_yaml, "_FAST_LOADER", yaml.SafeLoader)
    levels = ['&a0 ["x","x","x","x","x","x","x","x","x","x"]']
    levels += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    with pytest.raises(CardError, match="aliases expand to more than 10,000 values"):
        card_yaml.read_card_yaml(_card(tmp_path, "size: [" + ", ".join(levels) + "]\n"))
    with pytest.raises(CardError, match="nested deeper than 64 levels"):
        card_yaml.read_card_yaml(
            _card(tmp_path, "options: " + "[" * 20000 + "]" * 20000 + "\n"))
    assert card_yaml.read_card_yaml(_card(tmp_path, "options: " + "[" * 60 + "]" * 60 + "\n"))


def test_invalid_yaml_message_unchanged(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"invalid YAML \(line 4, column 1\): expected ',' or "
                                        r"'\]', but got '<stream end>'"):
        card_yaml.read_card_yaml(_card(tmp_path, "split: [val\n"))


# ---- image names and image files --------------------------------------------------------------


@pytest.mark.parametrize("name, bad", [
    ("COCO_val2014_000000000001.jpg", False), ("val2014/x.jpg", False), ("a..b.jpg", False),
    ("..x/y.jpg", False), ("../x.jpg", True), ("a/../../x.jpg", True), ("a/..", True),
    ("/etc/passwd", True), ("..\\x.jpg", True), ("x\0.jpg", True),
])
def test_leaves_folder(name: str, bad: bool) -> None:
    assert leaves_folder(name) is bad


def test_image_paths_names_file_item_and_name(tmp_path: Path) -> None:
    path_of = image_paths(tmp_path, "{image_id}.jpg", "data.json")
    assert path_of(image_id="abc") == os.path.join(str(tmp_path), "abc.jpg")
    with pytest.raises(BadInputError, match=r"^data\.json: image_id='\.\./\.\./etc/passwd': "
                                            r"image name '\.\./\.\./etc/passwd\.jpg' leads "
                                            r"outside the image folder"):
        path_of(image_id="../../etc/passwd")
    with pytest.raises(BadInputError,
                       match=r"image_pattern '\.\./\{image_id\}\.jpg': must be relative"):
        image_paths(tmp_path, "../{image_id}.jpg")


def test_state_json_names_stay_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps(
        {"_data_files": [{"filename": "../../elsewhere.arrow"}]}), encoding="utf-8")
    with pytest.raises(BadInputError, match="must be a name inside"):
        _arrow_files(tmp_path)


def test_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: a reader that opened it would
    hang here (the thread is abandoned after 10 s and the test fails)."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            images.load_image(str(fifo))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("load_image opened the FIFO and blocked")
    assert isinstance(outcome[0], BadInputError) and "FIFO" in str(outcome[0])


def test_size_cap_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 1000)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 1001)
    with pytest.raises(BadInputError, match="over the 0 MB limit"):
        images.image_bytes(str(big))
    small = tmp_path / "small.png"
    small.write_bytes(b"x" * 1000)
    assert images.image_bytes(str(small)) == b"x" * 1000


def test_symlinked_folder_inside_the_root_is_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    from PIL import Image
    Image.new("RGB", (4, 3), (1, 2, 3)).save(elsewhere / "x.png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "coco").symlink_to(elsewhere)
    ref = image_paths(root, "{file_name}", "instances.json")(file_name="coco/x.png")
    assert images.load_image(ref).size == (4, 3)


def test_duplicate_deep_inside_is_found() -> None:
    """900 levels (msgspec's own limit is about 1,000): still one line naming the key."""
    text = b"[" * 900 + b'{"a": 1, "a": 2}' + b"]" * 900
    with pytest.raises(BadInputError, match=r"^f\.json: line 1, column 910: duplicated key 'a'"):
        jsonio.decode_json(text, Path("f.json"))
