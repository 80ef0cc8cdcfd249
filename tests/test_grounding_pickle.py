"""The restricted unpickler: plain data loads (Python-2 strings included); a pickle that names
any global is refused before anything runs."""

from __future__ import annotations

import copyreg
import os
import pickle
import struct
from pathlib import Path
from typing import Any, ClassVar

import pytest

from infmllm_eval.data.safe_pickle import RefusedGlobalError, load_plain_pickle, loads_plain
from infmllm_eval.errors import BadInputError


class Py2Pickler(pickle._Pickler):
    """Writes str as Python 2's cPickle wrote its byte strings (SHORT_BINSTRING/BINSTRING of
    UTF-8 bytes), so the fixture looks like the real refs(unc).p."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str) -> None:
        data = obj.encode("utf-8")
        if len(data) < 256:
            opcode = pickle.SHORT_BINSTRING + bytes([len(data)])
        else:
            opcode = pickle.BINSTRING + struct.pack("<i", len(data))
        self.write(opcode + data)  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]

    dispatch[str] = save_py2_str


def py2_pickle(obj: Any, path: Path) -> Path:
    with path.open("wb") as fh:
        Py2Pickler(fh, protocol=2).dump(obj)
    return path


class _OpenFile:
    """Unpickling this calls builtins.open(marker, 'w'): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class SystemCall:
    """Unpickling this runs os.system('touch marker')."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("payload", [_OpenFile, SystemCall])
def test_a_pickle_naming_a_global_is_refused_and_nothing_runs(
        tmp_path: Path, protocol: int, payload: type) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps([{"split": "val"}, payload(marker)], protocol=protocol)
    with pytest.raises(RefusedGlobalError):
        loads_plain(data)
    path = tmp_path / "refs(unc).p"
    path.write_bytes(data)
    with pytest.raises(BadInputError, match=r"refusing to load .* names the global") as info:
        load_plain_pickle(path, "refs pickle")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_the_payload_is_live_with_the_ordinary_unpickler(tmp_path: Path) -> None:
    """Control for the test above: the same bytes DO create the file when loaded normally."""
    marker = tmp_path / "created"
    pickle.loads(pickle.dumps(_OpenFile(marker), protocol=2)).close()
    assert marker.exists()


def test_extension_codes_cannot_bypass_the_refusal(tmp_path: Path) -> None:
    """EXT opcodes name a global through copyreg's registry; a previously resolved code sits in
    copyreg's cache, which the plain unpickler clears so the global still goes through the
    refusal."""
    marker = tmp_path / "ext"
    copyreg.add_extension("io", "open", 0xF1)
    try:
        data = pickle.dumps(_OpenFile(marker), protocol=2)
        assert pickle.EXT1 in data and b"open" not in data
        pickle.loads(data).close()  # ordinary load: fills copyreg's extension cache
        marker.unlink()
        with pytest.raises(RefusedGlobalError, match=r"io\.open"):
            loads_plain(data)
        assert not marker.exists()
    finally:
        copyreg.remove_extension("io", "open", 0xF1)
        copyreg.clear_extension_cache()


@pytest.mark.parametrize(("data", "message"), [
    (b"Pabc\n.", "persistent id"),
    (b"\x80\x02]q\x00(K\x01K\x02", "not a readable refs pickle"),  # truncated
    (b"not a pickle", "not a readable refs pickle"),
    (b"", "not a readable refs pickle"),
])
def test_bad_pickles_give_one_line_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "refs.p"
    path.write_bytes(data)
    with pytest.raises(BadInputError, match=message) as info:
        load_plain_pickle(path, "refs pickle")
    assert "\n" not in str(info.value)


def test_python2_strings_are_decoded(tmp_path: Path) -> None:
    value = {"raw": "the café sign", "n": [1, 2.5, None, True, (3, "x")]}
    assert load_plain_pickle(py2_pickle(value, tmp_path / "a.p")) == value
    # a Python-2 byte string that is not UTF-8 (Latin-1 'é'): the file is read as Latin-1
    latin = b"\x80\x02}q\x00U\x03rawq\x01U\x04caf\xe9q\x02s."
    (tmp_path / "b.p").write_bytes(latin)
    assert load_plain_pickle(tmp_path / "b.p") == {"raw": "café"}
