"""Issue 23, model side: checkpoint provenance (the hash covers every byte loaded, shards stay
in their folder), loads that would leave random weights, unusable feature-cache entries, and
model/generation options checked before the model is built."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from infmllm_eval.adapters import create_adapter
from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.cards import generation_with, model_cards
from infmllm_eval.catalog import resolve_model
from infmllm_eval.commands import demo_root
from infmllm_eval.engine.feature_cache import FeatureCache
from infmllm_eval.errors import BadInputError, CardError
from infmllm_eval.modeling import (
    InfMLLM,
    InfMLLMConfig,
    checkpoint_sha256,
    load_weights,
    read_checkpoint,
)
from infmllm_eval.types import GenerationConfig
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
DATA = demo_root() / "data"
TINY = InfMLLMConfig.from_dict(dict(model_cards()["infmllm-tiny"].architecture))


def tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.contiguous() for k, v in InfMLLM(TINY).state_dict().items()}


def write_sharded(folder: Path, state: dict[str, torch.Tensor]) -> list[Path]:
    """A two-shard safetensors checkpoint with its index in ``folder``; returns the shards."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(state)
    halves = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, names in halves.items():
        save_file({k: state[k] for k in names}, str(folder / name))
    weight_map = {k: name for name, names in halves.items() for k in names}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return [folder / name for name in halves]


# --- provenance: the hash covers the index and every shard loaded ---

def test_hash_covers_every_shard_and_only_what_is_loaded(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    first, second = write_sharded(ckpt, tiny_state(0))
    index = ckpt / "model.safetensors.index.json"
    folder_hash = checkpoint_sha256(ckpt)
    assert checkpoint_sha256(index) == folder_hash  # the folder stands for its index
    loaded = read_checkpoint(index)
    assert loaded.sha256 == folder_hash  # hashed while loading = hashed alone
    assert loaded.files == [index, first, second]
    assert loaded.size == sum(p.stat().st_size for p in (index, first, second))
    (ckpt / "README.md").write_text("notes")  # a file that is not loaded: same hash
    assert checkpoint_sha256(ckpt) == folder_hash
    other = tiny_state(1)  # swap the second shard for one with the same keys, other values
    save_file({k: other[k] for k in read_checkpoint(second).tensors}, str(second))
    assert checkpoint_sha256(index) != folder_hash
    assert checkpoint_sha256(ckpt) != folder_hash


def test_single_file_hash_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(tiny_state(), str(path))
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert checkpoint_sha256(path) == expected == read_checkpoint(path).sha256
    assert checkpoint_sha256(tmp_path) == expected  # a folder holding model.safetensors


def test_resume_refuses_a_swapped_shard(cli: Cli, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    _, second = write_sharded(ckpt, tiny_state(0))
    args = ("run", "--model", "infmllm-tiny", "--model-option", f"weights={ckpt}", "--tasks",
            "vqav2", "--data-root", str(DATA), "--limit", "2", "--output-dir",
            str(tmp_path / "runs"), "--run-name", "r", "--generation", "num_beams=1",
            "--generation", "max_new_tokens=2")
    assert cli(*args).code == 0
    run = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert run["model"]["checkpoint_sha256"] == checkpoint_sha256(ckpt)
    other = tiny_state(1)
    save_file({k: other[k] for k in read_checkpoint(second).tensors}, str(second))
    res = cli("run", "--resume", str(tmp_path / "runs" / "r"))
    assert res.code == 2 and "model checkpoint_sha256 changed" in res.err


@pytest.mark.parametrize("name", ["../outside.safetensors", "sub/../../outside.safetensors",
                                  "/abs/outside.safetensors", "..\\outside.safetensors",
                                  "C:\\outside.safetensors"])
def test_shards_stay_in_the_folder(tmp_path: Path, name: str) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    save_file({"w": torch.zeros(2)}, str(tmp_path / "outside.safetensors"))
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": name}}))
    for call in (read_checkpoint, checkpoint_sha256):
        with pytest.raises(BadInputError, match="outside the index's folder") as info:
            call(ckpt)
        assert "outside.safetensors" in str(info.value)


def test_a_shard_in_a_subfolder_is_inside(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    (ckpt / "shards").mkdir(parents=True)
    save_file({"w": torch.ones(2)}, str(ckpt / "shards" / "a.safetensors"))
    (ckpt / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "shards/a.safetensors"}}))
    assert torch.equal(read_checkpoint(ckpt).tensors["w"], torch.ones(2))


# --- loads that would leave random weights ---

@pytest.mark.parametrize("strict", [True, False])
def test_a_component_without_tensors_is_refused(strict: bool) -> None:
    state = {k: v for k, v in tiny_state().items() if not k.startswith("pooler.")}
    model = InfMLLM(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(BadInputError, match=r"no tensor for the pool adapter \(pooler\.\*\)"):
        load_weights(model, state, strict=strict, source="ck.pth")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing was loaded


def test_prefixed_keys_are_refused_with_a_hint() -> None:
    state = {f"model.{k}": v for k, v in tiny_state().items()}
    with pytest.raises(BadInputError, match=r"extra prefix 'model\.'") as info:
        load_weights(InfMLLM(TINY), state, strict=False, source="ck.pth")
    for name in ("the ViT", "ln_vision", "the pool adapter", "the LLM", "ck.pth"):
        assert name in str(info.value)


def test_partial_load_is_reported_on_stderr(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    state = tiny_state(3)
    del state["visual_encoder.blocks.0.norm1.bias"]
    torch.save(state, tmp_path / "w.pth")
    built = create_adapter(resolve_model("infmllm-tiny"),
                           {"weights": str(tmp_path / "w.pth"), "strict": "false"})
    err = capsys.readouterr().err
    assert "loaded partially (strict=false)" in err and "1 missing" in err
    assert "visual_encoder.blocks.0.norm1.bias" in err
    assert isinstance(built, InfMLLMAdapter)
    assert "1 missing" in built.provenance()["load"]


def test_random_init_model_card_still_builds(capsys: pytest.CaptureFixture[str]) -> None:
    built = create_adapter(resolve_model("infmllm-tiny"), {})
    assert isinstance(built, InfMLLMAdapter)
    assert built.provenance()["checkpoint"] == "random init"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8, torch.bool, torch.complex64])
def test_non_floating_tensors_are_refused(dtype: torch.dtype) -> None:
    state = tiny_state()
    state["lm_model.lm_head.weight"] = state["lm_model.lm_head.weight"].to(dtype)
    with pytest.raises(BadInputError, match=r"lm_model\.lm_head\.weight has dtype"):
        load_weights(InfMLLM(TINY), state, strict=False)


def test_half_precision_checkpoints_still_load() -> None:
    state = {k: v.to(torch.bfloat16) for k, v in tiny_state().items()}
    assert load_weights(InfMLLM(TINY), state).ok


def test_empty_pos_embed_is_a_mismatch_not_a_crash() -> None:
    state = tiny_state()
    state["visual_encoder.pos_embed"] = torch.zeros(1, 0, TINY.vit_width)
    with pytest.raises(BadInputError, match="shape mismatch"):
        load_weights(InfMLLM(TINY), state)


# --- the feature cache ---

@pytest.mark.parametrize("bad", ["truncated", "dict", "shape", "ints", "empty"])
def test_bad_cache_entries_are_recomputed(tmp_path: Path, bad: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    good = torch.randn(4, 8)
    FeatureCache(disk=tmp_path, namespace="n", shape=(4, 8)).put("img", good)
    (entry,) = tmp_path.rglob("*.pt")
    if bad == "truncated":
        entry.write_bytes(entry.read_bytes()[:50])
    elif bad == "empty":
        entry.write_bytes(b"")
    else:
        value = {"dict": {"x": good}, "shape": torch.zeros(3, 8),
                 "ints": torch.zeros(4, 8, dtype=torch.long)}[bad]
        torch.save(value, entry)
    cache = FeatureCache(disk=tmp_path, namespace="n", shape=(4, 8))
    assert cache.get("img") is None
    assert "notice: feature cache entry" in capsys.readouterr().err
    cache.put("img", good)  # the recomputed value replaces the bad entry
    again = FeatureCache(disk=tmp_path, namespace="n", shape=(4, 8)).get("img")
    assert again is not None and torch.equal(again, good)


def test_run_recomputes_bad_cache_entries(cli: Cli, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def run(name: str) -> CliResult:
        return cli("run", "--model", "infmllm-tiny", "--model-option", f"feature_cache={cache}",
                   "--tasks", "vqav2", "--data-root", str(DATA), "--limit", "4",
                   "--output-dir", str(tmp_path / "runs"), "--run-name", name,
                   "--generation", "num_beams=1", "--generation", "max_new_tokens=3")

    assert run("first").code == 0
    entries = sorted(cache.rglob("*.pt"))
    assert entries
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    torch.save([1, 2, 3], entries[-1])
    res = run("second")
    assert res.code == 0, res.err
    assert res.err.count("notice: feature cache entry") == (2 if len(entries) > 1 else 1)
    first, second = ((tmp_path / "runs" / n / "predictions" / "vqav2_val.jsonl").read_text()
                     for n in ("first", "second"))
    assert [json.loads(x)["prediction"] for x in first.splitlines()] == \
        [json.loads(x)["prediction"] for x in second.splitlines()]


def test_unwritable_cache_folder_is_switched_off(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = FeatureCache(disk=blocker / "cache", namespace="n")
    cache.put("img", torch.zeros(2))
    assert "cannot be written" in capsys.readouterr().err
    kept = cache.get("img")
    assert cache.disk is None and kept is not None and torch.equal(kept, torch.zeros(2))


# --- options checked before the model is built ---

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line() -> None:
    with pytest.raises(BadInputError, match="CUDA is not available"):
        create_adapter(resolve_model("infmllm-tiny"), {"device": "cuda"})


def test_options_are_checked_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="seed="):
        create_adapter(resolve_model("infmllm-tiny"),
                       {"weights": str(tmp_path / "absent.pth"), "seed": "x"})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"num_beams": 0}, "num_beams=0"),  # typed values from a model card
    ({"max_new_tokens": True}, "max_new_tokens=True is not an integer"),
    ({"temperature": "1e999"}, "temperature=inf: expected a finite number"),
    ({"min_new_tokens": "-1"}, "min_new_tokens=-1"),
    ({"do_sample": "yes", "temperature": "0.0"}, "temperature=0 with do_sample=true"),
])
def test_generation_values_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(CardError, match=message):
        generation_with(GenerationConfig(), dict(overrides), "where")


def test_legal_generation_values_are_kept() -> None:
    gen = generation_with(GenerationConfig(), {"length_penalty": "-1.5", "num_beams": "3",
                                               "do_sample": "false", "temperature": "0"}, "w")
    assert (gen.length_penalty, gen.num_beams, gen.do_sample, gen.temperature) == \
        (-1.5, 3, False, 0.0)
    assert generation_with(GenerationConfig(num_beams=2), {"length_penalty": 0},
                           "w").length_penalty == 0


def test_provenance_names_the_tokenizer_bytes(tmp_path: Path) -> None:
    """The checkpoint hash no longer covers unrelated files of the weights folder, so the
    tokenizer (which often lives there) has its own hash; resume compares it."""
    from infmllm_eval.engine.run import MODEL_IDENTITY
    from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER

    built = create_adapter(resolve_model("infmllm-tiny"), {})
    expected = hashlib.sha256((TINY_TOKENIZER / "tokenizer.model").read_bytes()).hexdigest()
    assert built.provenance()["tokenizer_sha256"] == expected
    assert "tokenizer_sha256" in MODEL_IDENTITY
