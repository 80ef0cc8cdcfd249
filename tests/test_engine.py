"""The engine: batch planning, prefetching, the feature cache, OOM halving, feature reuse."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from infmllm_eval.adapters import create_adapter
from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.catalog import resolve_model
from infmllm_eval.commands import demo_root, parse_batch_size
from infmllm_eval.engine.batching import plan_batches, prefetched
from infmllm_eval.engine.feature_cache import FeatureCache
from infmllm_eval.errors import BadInputError
from infmllm_eval.types import GenerationConfig, Request
from tests.conftest import CliResult

DATA = demo_root() / "data"
IMAGES = sorted((DATA / "coco" / "val2014").glob("*.jpg"))
GREEDY = GenerationConfig(max_new_tokens=5, num_beams=1)


def test_plan_batches_sorts_within_windows_and_keeps_everything() -> None:
    items = [5, 1, 4, 2, 3, 9, 7, 8, 6, 0]
    batches = plan_batches(items, 2, cost=lambda x: x, window=4)
    assert batches == [[1, 2], [4, 5], [3, 7], [8, 9], [0, 6]]  # windows [5,1,4,2] [3,9,7,8] [6,0]
    assert plan_batches(items, 3) == [[5, 1, 4], [2, 3, 9], [7, 8, 6], [0]]
    with pytest.raises(ValueError):
        plan_batches(items, 0)


def test_prefetched_prepares_ahead_in_order() -> None:
    started: list[int] = []
    consumer_at: list[int] = []

    def prepare(batch: int) -> int:
        started.append(batch)
        return batch * 10

    out = []
    for batch, prepared in prefetched(list(range(5)), prepare, depth=2):
        time.sleep(0.01)  # let the worker run ahead
        consumer_at.append(len(started))
        out.append((batch, prepared))
    assert out == [(i, i * 10) for i in range(5)]
    assert consumer_at[0] >= 2  # batch 1 was being prepared while batch 0 was consumed
    assert list(prefetched([], prepare)) == []


def test_prefetch_runs_in_another_thread() -> None:
    names = []
    for _ in prefetched([1], lambda b: names.append(threading.current_thread().name)):
        pass
    assert names[0].startswith("prefetch")


def test_feature_cache_bound_lru_and_disk(tmp_path: Path) -> None:
    cache = FeatureCache(max_items=2)
    for key in "abc":
        cache.put(key, torch.full((1,), float(ord(key))))
    assert len(cache) == 2 and "a" not in cache
    assert cache.get("b") is not None  # b becomes the most recent
    cache.put("d", torch.zeros(1))
    assert "c" not in cache and "b" in cache
    disk = FeatureCache(max_items=1, disk=tmp_path, namespace="ckpt-1")
    disk.put("x", torch.arange(3.0))
    disk.put("y", torch.ones(2))
    again = FeatureCache(max_items=1, disk=tmp_path, namespace="ckpt-1")
    got = again.get("x")
    assert got is not None and torch.equal(got, torch.arange(3.0)) and again.disk_hits == 1
    assert FeatureCache(disk=tmp_path, namespace="ckpt-2").get("x") is None


@pytest.fixture(scope="module")
def tiny() -> InfMLLMAdapter:
    built = create_adapter(resolve_model("infmllm-tiny"), {})
    assert isinstance(built, InfMLLMAdapter)
    return built


def many_requests(n: int, per_image: int) -> list[Request]:
    return [Request(str(i), str(IMAGES[(i // per_image) % len(IMAGES)]), "vqa",
                    {"question": f"What color is shape number {i}?"}, GREEDY) for i in range(n)]


def test_oom_halves_and_retries_without_losing_requests(tiny: InfMLLMAdapter,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reqs = many_requests(8, 1)
    expected = [r.text for r in tiny.generate(reqs)]
    real = tiny._lm_generate
    sizes: list[int] = []

    def flaky(seqs: list[torch.Tensor], gen: GenerationConfig) -> list[list[int]]:
        sizes.append(len(seqs))
        if len(seqs) > 2:
            raise torch.OutOfMemoryError("simulated CUDA out of memory")
        return real(seqs, gen)

    monkeypatch.setattr(tiny, "_lm_generate", flaky)
    tiny.halving.max_batch = 1 << 30
    assert [r.text for r in tiny.generate(reqs)] == expected
    assert sizes[:3] == [8, 4, 2] and tiny.halving.max_batch == 2
    sizes.clear()
    tiny.generate(reqs)
    assert set(sizes) == {2}  # later batches are cut to what fitted, no more failures

    def always(seqs: list[torch.Tensor], gen: GenerationConfig) -> list[list[int]]:
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(tiny, "_lm_generate", always)
    with pytest.raises(BadInputError, match="does not fit in memory"):
        tiny.generate(reqs[:1])
    tiny.halving.max_batch = 1 << 30


def test_each_image_through_the_vit_once(tiny: InfMLLMAdapter) -> None:
    fresh = create_adapter(resolve_model("infmllm-tiny"), {})
    assert isinstance(fresh, InfMLLMAdapter)
    reqs = many_requests(16, 4)  # 4 images x 4 questions
    for start in range(0, 16, 3):
        fresh.generate(reqs[start:start + 3])
    stats = fresh.stats()
    assert stats["vit_forwards"] == stats["unique_images"] == 4
    naive = [tiny.generate([r])[0].text for r in reqs]
    assert [r.text for r in fresh.generate(reqs)] == naive


def test_cache_smaller_than_a_batch(tiny: InfMLLMAdapter) -> None:
    small = create_adapter(resolve_model("infmllm-tiny"), {"feature_cache_items": "1"})
    assert isinstance(small, InfMLLMAdapter)
    reqs = many_requests(6, 1)  # 6 distinct images, a cache of 1
    assert [r.text for r in small.generate(reqs)] == [r.text for r in tiny.generate(reqs)]
    assert len(small.features.cache) == 1


def test_run_records_engine_counters(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    res = cli("run", "--model", "infmllm-tiny", "--tasks", "vqav2_val", "--data-root", str(DATA),
              "--output-dir", str(tmp_path), "--run-name", "r", "--batch-size", "auto",
              "--generation", "num_beams=1", "--generation", "max_new_tokens=3")
    assert res.code == 0, res.err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    throughput = metrics["tasks"]["vqav2_val"]["throughput"]
    assert throughput["vit_forwards"] == throughput["unique_images"] == 8  # 24 questions
    assert throughput["tokens_per_s"] and throughput["samples_per_s"]
    assert metrics["engine"]["vit_forwards"] == 8
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["config"]["batch_size"] == 64


def test_batch_size_parsing() -> None:
    assert parse_batch_size("auto") == 64 and parse_batch_size("3") == 3
    for bad in ("0", "-2", "many"):
        with pytest.raises(BadInputError, match="positive integer or 'auto'"):
            parse_batch_size(bad)
