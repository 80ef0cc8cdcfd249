"""Caption metrics: nlg-eval's published values, equality with pycocoevalcap used directly,
CIDEr over the whole set, SPICE availability and Java failures."""

from __future__ import annotations

import json
import random
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from infmllm_eval.errors import BadInputError
from infmllm_eval.metrics import caption
from infmllm_eval.metrics.caption import compute_caption_metrics, tokenize, tokenize_sets

# published by nlg-eval for its example (hyp.txt, ref1.txt, ref2.txt; raw strings, no PTB)
NLGEVAL = {"Bleu_1": 0.55, "Bleu_2": 0.428174, "Bleu_3": 0.284043, "Bleu_4": 0.201143,
           "METEOR": 0.295797, "ROUGE_L": 0.522104, "CIDEr": 1.242192}
FAST = ("BLEU", "ROUGE_L", "CIDEr")  # no METEOR: its JVM takes ~10 s to load its tables
WORDS = ("a an the dog dogs cat man woman's bike street red blue small large sitting standing "
         "on in next to with holding two 3 people table pizza café naïve T-shirt don't "
         "mother-in-law U.S. $5 50% e-mail")
WORD_LIST = WORDS.split(" ")
PUNCT = (".", "", " .", "!", "?", ",", ";", " ...", ":")


def random_caption(rng: random.Random) -> str:
    words = [rng.choice(WORD_LIST) for _ in range(rng.randint(4, 14))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(['"quoted"', "(aside)", "--", "&"]))
    text = " ".join(words)
    return (text[0].upper() + text[1:] if rng.random() < 0.7 else text) + rng.choice(PUNCT)


def random_sets(seed: int, n_images: int, n_refs: int = 5) -> tuple[dict[str, list[str]],
                                                                   dict[str, list[str]]]:
    """Raw references and hypotheses; a few hypotheses copy a reference."""
    rng = random.Random(seed)
    gts = {f"img{i}": [random_caption(rng) for _ in range(n_refs)] for i in range(n_images)}
    res = {k: [rng.choice(refs) if rng.random() < 0.2 else random_caption(rng)]
           for k, refs in gts.items()}
    return gts, res


def read_nlgeval(folder: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    hyps = (folder / "hyp.txt").read_text().splitlines()
    refs = [(folder / f"ref{n}.txt").read_text().splitlines() for n in (1, 2)]
    gts = {str(i): [r[i] for r in refs] for i in range(len(hyps))}
    return gts, {str(i): [h] for i, h in enumerate(hyps)}


def direct_pycocoevalcap(gts: dict[str, list[str]], res: dict[str, list[str]],
                         ) -> dict[str, tuple[float, list[float]]]:
    """COCOEvalCap.evaluate's steps on plain dicts (tokenize each set, then each scorer)."""
    tokenizer = PTBTokenizer()
    gts_tok = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in gts.items()})
    res_tok = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in res.items()})
    out: dict[str, tuple[float, list[float]]] = {}
    bleu, bleus = Bleu(4).compute_score(gts_tok, res_tok, verbose=0)
    for n in range(4):
        out[f"Bleu_{n + 1}"] = (bleu[n], list(bleus[n]))
    for name, scorer in (("ROUGE_L", Rouge()), ("CIDEr", Cider())):
        value, values = scorer.compute_score(gts_tok, res_tok)
        out[name] = (float(value), [float(v) for v in values])
    return out


def test_nlgeval_values_bleu_rouge_cider(conformance: Path) -> None:
    gts, res = read_nlgeval(conformance / "caption_nlgeval")
    got = compute_caption_metrics(gts, res, metrics=FAST).corpus
    assert set(got) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"}
    for name, value in got.items():
        assert value == pytest.approx(NLGEVAL[name], abs=1e-5), name


@pytest.mark.slow
def test_nlgeval_values_all_metrics(conformance: Path) -> None:
    gts, res = read_nlgeval(conformance / "caption_nlgeval")
    scores = compute_caption_metrics(gts, res)
    assert set(scores.corpus) == set(NLGEVAL) | (set() if scores.unavailable else {"SPICE"})
    for name, expected in NLGEVAL.items():
        assert scores.corpus[name] == pytest.approx(expected, abs=1e-5), name
    assert len(scores.per_image["METEOR"]) == 2
    if caption.spice_unavailable() is not None:
        assert scores.unavailable["SPICE"].startswith("unavailable: ")


def test_tokenize_once_equals_pycocoevalcap_tokenizer() -> None:
    gts, res = random_sets(1, 40)
    tokenizer = PTBTokenizer()
    expected_gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in gts.items()})
    expected_res = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in res.items()})
    assert tokenize_sets(gts, res) == (expected_gts, expected_res)
    # -lowerCase turns -LRB- into -lrb-, which the official punctuation list (upper case)
    # does not drop: brackets stay as tokens in every pycocoevalcap score
    assert tokenize(["A Dog, running (fast)!", ""]) == ["a dog running -lrb- fast -rrb-", ""]


def test_scores_equal_direct_pycocoevalcap() -> None:
    gts, res = random_sets(2, 60)
    got = compute_caption_metrics(*tokenize_sets(gts, res), metrics=FAST)
    expected = direct_pycocoevalcap(gts, res)
    assert set(got.corpus) == set(expected)
    for name, (value, values) in expected.items():
        assert got.corpus[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
        assert got.per_image[name] == pytest.approx(values, rel=1e-12, abs=1e-15), name
    assert got.keys == list(gts)


def test_line_breaks_inside_a_caption_do_not_shift_the_others() -> None:
    # the Java tokenizer ends a line at \r, \v, \f, U+2028 and U+2029 (pycocoevalcap's
    # wrapper only replaces \n, so one such caption shifts every later one)
    texts = ["A dog\rrunning.", "two\u2028cats", "a\x0cb\x0bc\u2029d", "", "last one."]
    assert tokenize(texts) == ["a dog running", "two cats", "a b c d", "", "last one"]


def test_cider_is_computed_over_the_whole_set() -> None:
    gts, res = tokenize_sets(*random_sets(3, 40))
    whole = compute_caption_metrics(gts, res, metrics=("CIDEr",))
    cider = whole.per_image["CIDEr"]
    assert whole.corpus["CIDEr"] == pytest.approx(sum(cider) / len(cider), rel=1e-12)
    keys = list(gts)
    halves = [keys[:20], keys[20:]]
    parts = [compute_caption_metrics({k: gts[k] for k in h}, {k: res[k] for k in h},
                                     metrics=("CIDEr",)) for h in halves]
    shard_values = parts[0].per_image["CIDEr"] + parts[1].per_image["CIDEr"]
    assert shard_values != pytest.approx(cider)  # document frequencies differ per shard
    one = compute_caption_metrics({keys[0]: gts[keys[0]]}, {keys[0]: gts[keys[0]][:1]},
                                  metrics=("CIDEr",))
    assert one.corpus["CIDEr"] == 0.0  # one image alone: every n-gram in every document


@pytest.mark.parametrize(("gts", "res", "message"), [
    ({}, {}, "no images to score"),
    ({"a": ["x"]}, {"b": ["x"]}, "is not in both"),
    ({"a": []}, {"a": ["x"]}, "has no reference caption"),
    ({"a": ["x"]}, {"a": ["x", "y"]}, "exactly one hypothesis"),
])
def test_bad_sets_are_refused(gts: dict[str, list[str]], res: dict[str, list[str]],
                              message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        compute_caption_metrics(gts, res, metrics=("CIDEr",))


def fake_java(folder: Path, body: str) -> Path:
    """A `java` executable (a Python script) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "java"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_java_missing_names_java_and_the_metric(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BadInputError, match=r"Java not found on PATH: the PTB tokenizer") as e:
        tokenize(["a dog"])
    assert "\n" not in str(e.value)
    with pytest.raises(BadInputError, match=r"Java not found on PATH: METEOR"):
        compute_caption_metrics({"a": ["a dog"]}, {"a": ["a dog"]}, metrics=("METEOR",))


@pytest.mark.parametrize(("body", "message"), [
    ("sys.stderr.write('Error: simulated JVM failure\\n'); sys.exit(1)",
     "(the process ended early): Error: simulated JVM failure"),
    ("[print('oops\\noops', flush=True) for _ in sys.stdin]", "(unexpected output)"),
])
def test_java_failing_names_java_and_the_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                body: str, message: str) -> None:
    monkeypatch.setenv("PATH", str(fake_java(tmp_path / "bin", body)))
    with pytest.raises(BadInputError, match=r"Java failed while computing METEOR") as e:
        compute_caption_metrics({"a": ["a dog"]}, {"a": ["a dog"]}, metrics=("METEOR",))
    assert message in str(e.value) and "\n" not in str(e.value)
    if "exit" in body:
        with pytest.raises(BadInputError, match=r"Java failed running the PTB tokenizer .*"
                           r"\(exit 1\): Error: simulated JVM failure"):
            tokenize(["a dog"])


def test_spice_unavailable_without_corenlp_and_never_downloaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caption, "SPICE_LIB", tmp_path)

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("SPICE must never download CoreNLP")

    monkeypatch.setattr(caption._corenlp, "urlretrieve", no_download)
    reason = caption.spice_unavailable()
    assert reason is not None and "stanford-corenlp-3.6.0-models.jar" in reason
    assert str(tmp_path) in reason
    got = compute_caption_metrics({"a": ["a dog"]}, {"a": ["a dog"]}, metrics=("SPICE", "CIDEr"))
    assert "SPICE" not in got.corpus and got.unavailable == {"SPICE": reason}


SPICE_OUT = """
args = sys.argv[1:]
items = json.load(open(args[3]))
f = {0: 0.5, 1: 0.25, 2: None}
out = [{"image_id": it["image_id"], "scores": {"All": {"f": f[it["image_id"]]}}} for it in items]
json.dump(out, open(args[args.index("-out") + 1], "w"))
"""


@pytest.mark.parametrize("fails", [False, True])
def test_spice_runs_when_corenlp_is_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            fails: bool) -> None:
    for name in caption.SPICE_CORENLP:
        (tmp_path / name).write_bytes(b"jar")
    monkeypatch.setattr(caption, "SPICE_LIB", tmp_path)
    body = "sys.stderr.write('boom\\n'); sys.exit(3)" if fails else SPICE_OUT
    monkeypatch.setenv("PATH", str(fake_java(tmp_path / "bin", body)))
    assert caption.spice_unavailable() is None
    gts = {"a": ["a dog"], "b": ["a cat"], "c": ["a man"]}
    res = {"a": ["a dog"], "b": ["a car"], "c": ["x"]}
    got = compute_caption_metrics(gts, res, metrics=("SPICE",))
    if fails:
        assert got.unavailable == {"SPICE": "unavailable: SPICE failed (Java exit 3: boom)"}
        return
    assert got.per_image["SPICE"][:2] == [0.5, 0.25]
    assert got.per_image["SPICE"][2] != got.per_image["SPICE"][2]  # NaN, as pycocoevalcap
    assert json.dumps(got.corpus["SPICE"]) == "NaN" and not got.unavailable
