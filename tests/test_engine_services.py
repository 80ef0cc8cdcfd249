"""Engine services adapters share: out-of-memory halving and the per-image feature service."""

from __future__ import annotations

import pytest
import torch

from infmllm_eval.engine.feature_cache import FeatureCache, ImageFeatures
from infmllm_eval.engine.oom import UNLIMITED, BatchHalving
from infmllm_eval.errors import BadInputError


class Fits:
    """A batch function that runs out of memory above ``limit`` items; records the sizes."""

    def __init__(self, limit: int, error: type[Exception] = torch.OutOfMemoryError) -> None:
        self.limit, self.error, self.sizes = limit, error, list[int]()

    def __call__(self, chunk: list[int]) -> list[int]:
        self.sizes.append(len(chunk))
        if len(chunk) > self.limit:
            raise self.error("simulated out of memory")
        return [10 * x for x in chunk]


def test_halving_returns_everything_in_order_and_remembers_the_size() -> None:
    halving = BatchHalving("fake")
    fn = Fits(3)
    assert halving.run(list(range(13)), fn) == [10 * x for x in range(13)]
    assert halving.max_batch == 3
    assert fn.sizes[:3] == [13, 6, 3]  # 13 and 6 fail; from then on no more than 3
    assert fn.sizes[2:] == [3, 3, 3, 3, 1]  # each item ran once, once the size fitted
    fn.sizes.clear()
    assert halving.run(list(range(7)), fn) == [10 * x for x in range(7)]
    assert fn.sizes == [3, 3, 1]  # later batches are cut at once: no failure


def test_halving_splits_like_the_recursive_version() -> None:
    # 8 items at most 5 a batch: the failing 5 halve to 2 + 2 + 1, the other 3 to 2 + 1
    # (the batches never straddle the first split, as the recursive version's did not)
    fn, halving = Fits(2), BatchHalving("fake")
    halving.max_batch = 5
    assert halving.run(list(range(8)), fn) == [10 * x for x in range(8)]
    assert fn.sizes == [5, 2, 2, 1, 2, 1]


def test_halving_on_a_long_list_cut_to_ones_does_not_recurse() -> None:
    halving = BatchHalving("fake")
    halving.max_batch = 1
    assert halving.run(list(range(5000)), lambda chunk: chunk) == list(range(5000))


def test_one_item_that_does_not_fit_is_refused_naming_the_model() -> None:
    halving = BatchHalving("big-model", hint="try a smaller image")
    with pytest.raises(BadInputError, match=r"model big-model: one request does not fit in "
                                            r"memory \(try a smaller image\)"):
        halving.run([1, 2, 3, 4], Fits(0))
    assert halving.max_batch == 1


def test_other_errors_pass_through_and_the_predicate_is_configurable() -> None:
    with pytest.raises(MemoryError):  # not torch's out-of-memory: not handled by default
        BatchHalving("fake").run([1, 2, 3], Fits(1, MemoryError))
    own = BatchHalving("fake", is_oom=lambda exc: isinstance(exc, MemoryError))
    fn = Fits(1, MemoryError)
    assert own.run([1, 2, 3], fn) == [10, 20, 30] and own.max_batch == 1
    with pytest.raises(ValueError, match="2 results for a batch of 3"):
        BatchHalving("fake").run([1, 2, 3], lambda chunk: chunk[:2])


def test_halving_starts_unlimited_and_empty_lists_cost_nothing() -> None:
    halving = BatchHalving("fake", device="cpu")
    assert halving.max_batch == UNLIMITED
    assert halving.run([], Fits(0)) == []


class Encoder:
    """A fake vision encoder: the features of key k are a tensor filled with len(k)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, keys: list[str]) -> list[torch.Tensor]:
        self.calls.append(keys)
        return [torch.full((2, 3), float(len(k))) for k in keys]


def test_lookup_computes_each_missing_unique_key_once_in_order() -> None:
    features, encode = ImageFeatures(FeatureCache()), Encoder()
    got = features.lookup(["a", "bb", "a", "ccc"], encode)
    assert [int(t[0, 0]) for t in got] == [1, 2, 1, 3]
    assert encode.calls == [["a", "bb", "ccc"]]
    got = features.lookup(["bb", "dddd", "dddd"], encode)
    assert [int(t[0, 0]) for t in got] == [2, 4, 4]
    assert encode.calls[1:] == [["dddd"]]
    assert features.stats() == {"vit_forwards": 4, "unique_images": 4, "feature_cache_hits": 1}
    assert "dddd" in features and "e" not in features
    features.lookup(["a", "bb"], encode)  # all cached: no call
    assert len(encode.calls) == 2 and features.stats()["feature_cache_hits"] == 3


def test_lookup_with_a_cache_smaller_than_the_batch() -> None:
    features, encode = ImageFeatures(FeatureCache(max_items=1)), Encoder()
    got = features.lookup(["a", "bb", "ccc", "a"], encode)
    assert [int(t[0, 0]) for t in got] == [1, 2, 3, 1]  # the batch keeps its own features
    assert len(features.cache) == 1 and "ccc" in features
    features.lookup(["a"], encode)  # evicted: computed again
    assert encode.calls[-1] == ["a"] and features.stats()["vit_forwards"] == 4
    assert features.stats()["unique_images"] == 3


def test_lookup_refuses_a_wrong_number_of_features() -> None:
    features = ImageFeatures(FeatureCache())
    with pytest.raises(ValueError, match="1 features computed for 2 images"):
        features.lookup(["a", "b"], lambda keys: [torch.zeros(1)])
    assert features.stats()["vit_forwards"] == 0 and len(features.cache) == 0
