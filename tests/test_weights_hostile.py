"""What a hostile pass over the weights commands found (issue 24 review), pinned."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling import hash_cache, layout
from infmllm_eval.modeling.checkpoint import read_checkpoint
from tests import layouts
from tests.conftest import CliResult


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return layouts.parity_world(tmp_path, monkeypatch, {"parity": {}, "parity_catastrophic": {
        "key_map": {"(.|.)*Z": None}}})


def one_error(res: CliResult, *parts: str) -> None:
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert res.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.err
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool])
def test_integer_and_bool_tensors_are_refused_everywhere(cli: Callable[..., CliResult],
                                                         world: dict[str, Any],
                                                         dtype: torch.dtype) -> None:
    state = {**world["state"]}
    state["lm_model.lm_head.weight"] = state["lm_model.lm_head.weight"].to(dtype)
    torch.save(state, "w.pth")
    message = f"has dtype {str(dtype).removeprefix('torch.')}; bool, integer and complex"
    one_error(cli("weights", "convert", "w.pth", "out", "--model", "parity", "--dtype",
                  "bfloat16"), message)
    assert not Path("out").exists()
    res = cli("weights", "inspect", "w.pth", "--model", "parity")
    assert res.code == 2 and message in res.err
    one_error(cli("run", "--model", "parity", "--tasks", "toy_vqa", "--limit", "1",
                  "--model-option", "weights=w.pth", "--output-dir", "runs"), message)


def test_tied_embeddings_are_explained_not_a_crash(cli: Callable[..., CliResult],
                                                   world: dict[str, Any]) -> None:
    state = {k: v for k, v in world["state"].items() if "lm_head" not in k}
    torch.save(state, "tied.pth")
    res = cli("weights", "inspect", "tied.pth", "--model", "parity")
    assert res.code == 2 and "layout      unknown" in res.out
    assert "tied input and output embeddings" in res.err


def test_convert_into_an_impossible_folder(cli: Callable[..., CliResult],
                                           world: dict[str, Any]) -> None:
    torch.save(world["state"], "w.pth")
    Path("afile").write_text("x")
    one_error(cli("weights", "convert", "w.pth", "afile/sub", "--model", "parity"),
              "cannot write afile/sub")
    stale = Path(".canon.partial-999999999")  # a conversion killed with SIGKILL left it
    stale.mkdir()
    (stale / "model.safetensors").write_text("half")
    assert cli("weights", "convert", "w.pth", "canon", "--model", "parity").code == 0
    assert not stale.exists() and Path("canon/model.safetensors").is_file()


def test_a_catastrophic_key_map_is_stopped(cli: Callable[..., CliResult],
                                           world: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "KEY_MAP_SECONDS", 0.5)
    layouts.save_sharded(layouts.llava(world["state"]), world["tmp"] / "chat", 1)
    started = time.monotonic()
    res = cli("weights", "inspect", "chat", "--model", "parity_catastrophic")
    assert time.monotonic() - started < 60
    one_error(res, "key_map took more than 0.5 s", "backtracks catastrophically")


def test_a_position_grid_that_is_not_square(cli: Callable[..., CliResult],
                                            world: dict[str, Any]) -> None:
    state = {**world["state"]}
    state["visual_encoder.pos_embed"] = state["visual_encoder.pos_embed"][:, :13]
    torch.save(state, "w.pth")
    res = cli("weights", "inspect", "w.pth", "--model", "parity")
    assert res.code == 2 and "has shape [1, 13, 88]: not [1, 1 + g*g, width]" in res.err


@pytest.mark.parametrize("change,message", [
    ({"rope_theta": "10000"}, "rope_theta is '10000', expected a number"),
    ({"hidden_size": True}, "hidden_size is True, expected a number"),
    ({"rope_scaling": "linear"}, "rope_scaling 'linear' is not an object"),
    ({"rope_scaling": {"type": "linear", "factor": 2.0}}, "rope scaling 'linear' is not")])
def test_config_json_values_of_the_wrong_type(cli: Callable[..., CliResult],
                                              world: dict[str, Any], change: dict[str, Any],
                                              message: str) -> None:
    folder = layouts.release_folder(world["state"], world["tmp"] / "chat", world["config"])
    (folder / "config.json").write_text(json.dumps(layouts.hf_config(world["config"],
                                                                     **change)))
    one_error(cli("weights", "inspect", "chat"), message)


def test_an_empty_path(cli: Callable[..., CliResult], world: dict[str, Any]) -> None:
    one_error(cli("weights", "inspect", ""), "checkpoint path is empty")


def test_the_hash_cache_never_blocks_or_replaces_a_special_file(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = world["tmp"] / "cache.fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv(hash_cache.ENV, str(fifo))
    assert hash_cache.lookup("anything") is None  # returns at once: the FIFO is not opened
    hash_cache.store("k", "0" * 64, 1)
    assert fifo.is_fifo()
    monkeypatch.setenv(hash_cache.ENV, "/dev/full")
    assert hash_cache.lookup("k") is None


def test_a_hashing_failure_is_an_error_not_an_empty_hash(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save(world["state"], world["tmp"] / "w.pth")
    monkeypatch.setenv(hash_cache.ENV, "off")

    def fail(self: object) -> None:
        raise MemoryError

    monkeypatch.setattr("infmllm_eval.modeling.checkpoint._Hasher._compute", fail)
    ckpt = read_checkpoint(world["tmp"] / "w.pth")
    with pytest.raises(RuntimeError, match=r"hashing .* failed"):
        _ = ckpt.sha256
    with pytest.raises(BadInputError):
        read_checkpoint(world["tmp"] / "missing.pth")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_non_finite_scan_sees_every_position(dtype: torch.dtype) -> None:
    from infmllm_eval.adapters.infmllm import _finite

    assert _finite(torch.randn(1000).to(dtype)) and _finite(torch.zeros(0, dtype=dtype))
    assert _finite(torch.arange(5))  # not a floating-point tensor: nothing to check
    for position in (0, 1, 500, 998, 999):
        for bad in (float("nan"), float("inf"), -float("inf")):
            values = torch.randn(1000).to(dtype)
            values[position] = bad
            assert not _finite(values), (position, bad)


def test_an_index_with_a_duplicated_key_is_refused(cli: Callable[..., CliResult],
                                                   world: dict[str, Any]) -> None:
    """json.loads would keep the last copy, leaving the first copy's shard unread."""
    index = layouts.save_sharded(layouts.llava(world["state"]), world["tmp"] / "chat", 2)
    weight_map = json.loads(index.read_text())["weight_map"]
    first = next(iter(weight_map))
    body = ", ".join(f'"{k}": "{v}"' for k, v in weight_map.items())
    index.write_text(f'{{"weight_map": {{"{first}": "model-00002-of-00002.safetensors", '
                     f'{body}}}}}')
    one_error(cli("weights", "inspect", "chat"), "has no readable weight_map",
              "duplicated key")
