"""`score` on caption tasks end to end: metrics JSON equal to pycocoevalcap used directly,
NoCaps domains, the submission file, and Java problems as exit code 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from infmllm_eval.errors import BadInputError
from infmllm_eval.families.caption import CAPTION
from infmllm_eval.types import Sample
from tests.conftest import CliResult
from tests.test_caption_data import nocaps_doc, write_karpathy, write_nocaps
from tests.test_caption_metric import direct_pycocoevalcap, fake_java, random_sets

Cli = Callable[..., CliResult]
NAMES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def coco_root(tmp_path: Path, n_images: int = 40) -> tuple[Path, Path, dict[str, list[str]],
                                                             dict[str, list[str]]]:
    """A data root with a Karpathy COCO file and a predictions file missing the last image."""
    gts, res = random_sets(7, n_images)
    images = [{"filepath": "val2014", "filename": f"COCO_val2014_{i:012d}.jpg", "cocoid": 100 + i,
               "split": "test", "sentences": [{"raw": r} for r in gts[f"img{i}"]]}
              for i in range(n_images)]
    write_karpathy(tmp_path / "data" / "coco" / "dataset_coco.json", images)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": 100 + i, "prediction": res[f"img{i}"][0]}) + "\n"
                             for i in range(n_images - 1)))
    refs = {str(100 + i): gts[f"img{i}"] for i in range(n_images)}
    hyps = {str(100 + i): res[f"img{i}"] for i in range(n_images - 1)}
    hyps[str(100 + n_images - 1)] = [""]  # missing: an empty caption
    return tmp_path / "data", preds, refs, hyps


def direct_meteor(gts: dict[str, list[str]], res: dict[str, list[str]],
                  ) -> tuple[float, list[float]]:
    tokenizer = PTBTokenizer()
    gts_tok = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in gts.items()})
    res_tok = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in res.items()})
    value, values = Meteor().compute_score(gts_tok, res_tok)
    return value, values


@pytest.mark.slow
def test_coco_scores_equal_direct_pycocoevalcap(cli: Cli, tmp_path: Path) -> None:
    root, preds, refs, hyps = coco_root(tmp_path)
    res = cli("score", "--task", "coco_karpathy_test", "--predictions", str(preds),
              "--data-root", str(root), "--output", str(tmp_path / "m.json"))
    assert res.code == 0, res.err
    got = json.loads((tmp_path / "m.json").read_text())
    expected: dict[str, Any] = direct_pycocoevalcap(refs, hyps)
    expected["METEOR"] = direct_meteor(refs, hyps)
    assert set(got["metrics"]) == set(NAMES)
    for name in NAMES:
        value, values = expected[name]
        assert got["metrics"][name] == pytest.approx(100 * value, rel=1e-12), name
        assert got["breakdown"]["pycocoevalcap"][name] == pytest.approx(value, rel=1e-12), name
        column = [r["score"] if name == "CIDEr" else r[name] for r in got["per_sample"]]
        assert column == pytest.approx([100 * v for v in values], rel=1e-9, abs=1e-12), name
    assert [r["id"] for r in got["per_sample"]] == [int(k) for k in refs]
    assert got["n_missing"] == 1 and got["per_sample"][-1]["prediction"] is None
    lo, hi = got["ci95"]["CIDEr"]
    assert lo < got["metrics"]["CIDEr"] < hi
    assert got["variant"] == {"spice": "auto"}
    assert "SPICE" in got["breakdown"].get("unavailable", {}) or "SPICE" in got["metrics"]
    # the whole split, not shards: CIDEr's document frequencies are the whole set's
    keys = list(refs)
    shards = [direct_pycocoevalcap({k: refs[k] for k in part}, {k: hyps[k] for k in part})
              for part in (keys[:20], keys[20:])]
    shard_mean = sum(s["CIDEr"][0] for s in shards) / 2
    assert got["metrics"]["CIDEr"] != pytest.approx(100 * shard_mean, rel=1e-6)


@pytest.mark.slow
def test_nocaps_reports_each_domain_and_entire(cli: Cli, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    doc = nocaps_doc(15)
    gts, res = random_sets(11, 15, n_refs=10)
    for ann in doc["annotations"]:
        ann["caption"] = gts[f"img{ann['image_id']}"][ann["id"] % 10]
    write_nocaps(tmp_path / "data" / "nocaps" / "nocaps_val_4500_captions.json", doc)
    preds = tmp_path / "p.json"  # the official result-file shape is accepted too
    preds.write_text(json.dumps([{"image_id": i, "caption": res[f"img{i}"][0]}
                                 for i in range(15)]))
    out = cli("score", "--task", "nocaps_val", "--predictions", str(preds), "--data-root",
              str(tmp_path / "data"), "--option", "spice=off")
    assert out.code == 0, out.err
    got = json.loads((tmp_path / "p.metrics.json").read_text())
    domains = got["breakdown"]["domain"]
    assert set(domains) == {"in-domain", "near-domain", "out-domain", "entire"}
    assert domains["entire"] == {name: got["metrics"][name] for name in NAMES}
    refs = {str(i): gts[f"img{i}"] for i in range(15)}
    hyps = {str(i): res[f"img{i}"] for i in range(15)}
    for index, domain in enumerate(("in-domain", "near-domain", "out-domain")):
        keys = [str(i) for i in range(15) if i % 3 == index]
        direct = direct_pycocoevalcap({k: refs[k] for k in keys}, {k: hyps[k] for k in keys})
        for name, (value, _) in direct.items():
            assert domains[domain][name] == pytest.approx(100 * value, rel=1e-12)
        assert got["metrics"][f"CIDEr_{domain}"] == domains[domain]["CIDEr"]
        assert set(domains[domain]) == set(NAMES)
    entire = direct_pycocoevalcap(refs, hyps)
    assert got["metrics"]["CIDEr"] == pytest.approx(100 * entire["CIDEr"][0], rel=1e-12)
    assert got["breakdown"]["unavailable"] == {"SPICE": "skipped (option spice=off)"}
    assert "SPICE" not in got["metrics"]


def test_java_missing_is_exit_2_naming_java_and_the_metric(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    root, preds, _, _ = coco_root(tmp_path, 3)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    res = cli("score", "--task", "coco_karpathy_test", "--predictions", str(preds),
              "--data-root", str(root))
    assert res.code == 2
    assert "Java not found on PATH: the PTB tokenizer of the caption metrics" in res.err
    assert "Traceback" not in res.err and not (tmp_path / "preds.metrics.json").exists()


def test_java_failing_is_exit_2_naming_java_and_the_metric(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, preds, _, _ = coco_root(tmp_path, 3)
    body = "sys.stderr.write('Error: could not create the Java VM\\n'); sys.exit(1)"
    monkeypatch.setenv("PATH", str(fake_java(tmp_path / "bin", body)))
    res = cli("score", "--task", "coco_karpathy_test", "--predictions", str(preds),
              "--data-root", str(root))
    assert res.code == 2
    assert "Java failed running the PTB tokenizer" in res.err
    assert "could not create the Java VM" in res.err and "Traceback" not in res.err


def test_unknown_spice_option_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    root, preds, _, _ = coco_root(tmp_path, 3)
    res = cli("score", "--task", "coco_karpathy_test", "--predictions", str(preds),
              "--data-root", str(root), "--option", "spice=download")
    assert res.code == 2 and "spice='download' is not one of auto, off" in res.err


def test_submission_is_the_official_result_list() -> None:
    samples = [Sample(391895, None, {}, ["a ref"], {}), Sample(60623, None, {}, ["b"], {}),
               Sample(7, None, {}, ["c"], {})]
    preds: dict[str, str | None] = {"391895": "A man riding a bike.", "60623": ""}
    assert CAPTION.always_submit is True
    assert CAPTION.submission(samples, preds, {"spice": "auto"}) == [
        {"image_id": 391895, "caption": "A man riding a bike."},
        {"image_id": 60623, "caption": ""}]  # no prediction for 7: left out, not invented
    flickr = [Sample("1007129816.jpg", None, {}, ["x"], {})]
    assert CAPTION.submission(flickr, {"1007129816.jpg": "a dog"}, {}) == [
        {"image_id": "1007129816.jpg", "caption": "a dog"}]
    assert CAPTION.request_fields(samples[0]) == {}


def test_split_without_references_is_refused() -> None:
    samples = [Sample(1, None, {}, None, {})]
    with pytest.raises(BadInputError, match="needs a list of reference captions"):
        CAPTION.score(samples, {"1": "a dog"}, {"spice": "off"})
