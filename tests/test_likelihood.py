"""Likelihood inference: calibration metrics, the InfMLLM prefix-shared scores against an
independent full-sequence forward, journaling and resume, refusal, scoring files."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from infmllm_eval.adapters import create_adapter
from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.catalog import resolve_model
from infmllm_eval.data.images import load_image
from infmllm_eval.errors import BadInputError
from infmllm_eval.metrics.calibration import brier_score, expected_calibration_error
from infmllm_eval.modeling.preprocess import preprocess
from infmllm_eval.predictions import read_predictions
from infmllm_eval.taskspec import build_specs, load_samples
from infmllm_eval.toy import DATA_ROOT
from infmllm_eval.types import Request, Sample, ScoredText
from tests.conftest import ROOT, CliResult

# --- calibration ---------------------------------------------------------------------------


def test_ece_and_brier_hand_computed() -> None:
    """Four questions, 2 options, 2 bins ([0, .5), [.5, 1]):
    confidences .9 (right), .8 (wrong), .6 (right), .7 (right) all fall in bin 2:
    mean confidence .75, accuracy .75 -> ECE 0. With 10 bins: bins .9 (acc 1), .8 (acc 0),
    .6 (acc 1), .7 (acc 1): (|.9-1| + |.8-0| + |.6-1| + |.7-1|) / 4 = (.1+.8+.4+.3)/4 = .4.
    Brier: (.1^2+.1^2) + (.8^2+.8^2) + (.4^2+.4^2) + (.3^2+.3^2) = .02+1.28+.32+.18 = 1.8 / 4
    = .45."""
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    answers = [0, 0, 0, 1]
    assert expected_calibration_error(probs, answers, 2) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(probs, answers, 10) == pytest.approx(0.4)
    assert brier_score(probs, answers) == pytest.approx(0.45)
    # a confidence of exactly 1.0 belongs to the last bin
    assert expected_calibration_error([[1.0, 0.0]], [1], 10) == pytest.approx(1.0)
    assert math.isnan(brier_score([], []))


def _numpy_ece(probs: np.ndarray, answers: np.ndarray, bins: int) -> float:
    conf = probs.max(1)
    right = probs.argmax(1) == answers
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        upper_ok = conf <= edges[b + 1] if b == bins - 1 else conf < edges[b + 1]
        inside = (conf >= edges[b]) & upper_ok
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - right[inside].mean())
    return float(total)


@pytest.mark.parametrize("bins", [5, 10, 15])
def test_ece_and_brier_equal_numpy_on_random_inputs(bins: int) -> None:
    rng = np.random.default_rng(bins)
    logits = rng.normal(size=(500, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    answers = rng.integers(0, 4, size=500)
    ece = expected_calibration_error(probs.tolist(), answers.tolist(), bins)
    assert ece == pytest.approx(_numpy_ece(probs, answers, bins), abs=1e-12)
    brier = float(((probs - np.eye(4)[answers]) ** 2).sum(1).mean())
    assert brier_score(probs.tolist(), answers.tolist()) == pytest.approx(brier, abs=1e-12)


# --- the InfMLLM scores against an independent full-sequence forward ------------------------


def _requests(scored_text: str, n: int) -> list[Request]:
    card = resolve_model("infmllm-tiny-toy")
    spec = build_specs(["toy_mmbench"], DATA_ROOT, [],
                       ["inferencer=likelihood", f"scored_text={scored_text}"], card)[0]
    samples: list[Sample] = load_samples(spec, n)
    return [Request(s.key, s.image, spec.family.name, spec.family.request_fields(s),
                    spec.generation, spec.family.continuations(s, spec.options))
            for s in samples]


def _full_sequence(adapter: InfMLLMAdapter, req: Request, text: str) -> float:
    """Summed log-probability of ``text`` from one forward over the whole sequence (image
    encoded afresh, no cache, no padding, no sharing)."""
    model, tok = adapter.model, adapter.tokenizer
    prompt = adapter.style.render(req.fields)
    pixels = preprocess(load_image(req.image or ""), adapter.config.image_size,
                        adapter.style.image_transform)
    with torch.inference_mode():
        visual = model.encode_images(pixels[None])[0]
        cont = tok.encode(text)
        seq = model.assemble_multitask(tok.encode(prompt.before), visual,
                                       tok.encode(prompt.after) + cont)
        logits = model.forward_embeds(seq[None], torch.ones(1, len(seq), dtype=torch.long))[0]
        logp = logits.double().log_softmax(-1)
        start = len(seq) - len(cont)
        return float(sum(logp[start - 1 + i, t] for i, t in enumerate(cont)))


@pytest.fixture(scope="module")
def adapters() -> dict[str, InfMLLMAdapter]:
    card = resolve_model("infmllm-tiny-toy")
    made = {"cache": create_adapter(card, {}),
            "no_cache": create_adapter(card, {"feature_cache_items": "0"})}
    return {k: v for k, v in made.items() if isinstance(v, InfMLLMAdapter)}


@pytest.mark.parametrize("scored_text", ["letter", "text", "letter_text"])
@pytest.mark.parametrize("which", ["cache", "no_cache"])
def test_scores_equal_full_sequence_forward(adapters: dict[str, InfMLLMAdapter],
                                            scored_text: str, which: str) -> None:
    adapter = adapters[which]
    reqs = _requests(scored_text, 6)
    together = adapter.loglikelihood(reqs)  # batch N
    alone = [adapter.loglikelihood([r])[0] for r in reqs]  # batch 1
    for req, batch_n, batch_1 in zip(reqs, together, alone, strict=True):
        assert len(batch_n.likelihoods) == len(req.continuations) == 4
        for text, got_n, got_1 in zip(req.continuations, batch_n.likelihoods,
                                      batch_1.likelihoods, strict=True):
            want = _full_sequence(adapter, req, text)
            # 1e-5, or float32's resolution at the value (|log p| reaches 70 for the toy
            # model's unlikely continuations; one float32 ulp there is 7.6e-6)
            assert got_n.logprob == pytest.approx(want, abs=1e-5, rel=2.5e-7)
            assert got_1.logprob == pytest.approx(want, abs=1e-5, rel=2.5e-7)
            assert got_n.tokens == len(adapter.tokenizer.encode(text))


def test_greedy_flag_is_every_token_the_argmax(adapters: dict[str, InfMLLMAdapter]) -> None:
    """The toy model answers with the option text: the right option's text is its greedy
    continuation, a letter never is."""
    adapter = adapters["cache"]
    for scored_text, expect_some in (("text", True), ("letter", False)):
        found = [lk.greedy for r in adapter.loglikelihood(_requests(scored_text, 4))
                 for lk in r.likelihoods]
        assert any(found) is expect_some


# --- runs: journal, resume after SIGKILL, refusal, score from files -------------------------


def _run_command(out: Path, name: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "infmllm_eval", "run", "--model", "infmllm-tiny-toy",
            "--tasks", "toy_mmbench_likelihood", "--output-dir", str(out), "--run-name", name,
            "--batch-size", "1", "--threads", "1", *extra]


@pytest.mark.slow
def test_likelihood_run_resumes_after_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(_run_command(tmp_path, "clean"), check=True, capture_output=True, env=env)
    journal = tmp_path / "killed" / "predictions" / "toy_mmbench_likelihood.jsonl"
    proc = subprocess.Popen(_run_command(tmp_path, "killed"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 30:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    kept = journal.read_bytes().count(b"\n")
    assert 30 <= kept < 240
    subprocess.run(_run_command(tmp_path, "killed"), check=True, capture_output=True, env=env)
    clean = (tmp_path / "clean" / "predictions" / "toy_mmbench_likelihood.jsonl").read_text()
    assert journal.read_text() == clean
    lines = [json.loads(line) for line in clean.splitlines()]
    assert len(lines) == 240 and all(len(r["logprobs"]) == len(r["tokens"]) == 4
                                     for r in lines)
    metrics = [json.loads((tmp_path / n / "metrics.json").read_text())["tasks"][
        "toy_mmbench_likelihood"] for n in ("clean", "killed")]
    assert metrics[0]["metrics"] == metrics[1]["metrics"]
    assert metrics[1]["throughput"]["resumed"] == kept


def test_model_without_the_capability_is_refused_before_any_work(
        cli: object, tmp_path: Path) -> None:
    run = cli  # the conftest runner: (*args) -> CliResult
    res: CliResult = run("run", "--model", "scripted", "--tasks", "toy_mmbench",  # type: ignore[operator]
                         "--option", "inferencer=likelihood", "--model-option",
                         "answers=" + str(tmp_path / "none.jsonl"),
                         "--output-dir", str(tmp_path / "out"))
    assert res.code == 2
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot score likelihoods" in lines[0]
    assert "toy_mmbench" in lines[0]
    assert not (tmp_path / "out").exists()


def test_score_reads_per_option_scores_from_files(cli: object, tmp_path: Path) -> None:
    spec = build_specs(["toy_mmbench_likelihood"], DATA_ROOT, [], [], None)[0]
    samples = load_samples(spec)
    rows = []
    for s in samples:  # the right option most likely, by a margin of 1 nat
        letters = [letter for letter, _ in s.fields["options"]]
        rows.append({"id": s.id, "prediction": s.targets, "tokens": [1] * len(letters),
                     "logprobs": [-1.0 if x == s.targets else -2.0 for x in letters]})
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = read_predictions(path)
    first = preds.text[str(samples[0].id)]
    letters = [letter for letter, _ in samples[0].fields["options"]]
    assert isinstance(first, ScoredText)
    assert first.logprobs == tuple(-1.0 if x == samples[0].targets else -2.0 for x in letters)
    out = tmp_path / "m.json"
    res: CliResult = cli("score", "--task", "toy_mmbench_likelihood",  # type: ignore[operator]
                         "--predictions", str(path), "--data-root", str(DATA_ROOT),
                         "--output", str(out))
    assert res.code == 0, res.err
    entry = json.loads(out.read_text())
    metrics = entry.get("metrics") or entry["tasks"]["toy_mmbench_likelihood"]["metrics"]
    assert metrics["circular_accuracy"] == 100.0
    p = math.e / (math.e + 3)  # softmax of (-1, -2, -2, -2): confidence of the right option
    assert metrics["ece"] == pytest.approx(1 - p)
    assert metrics["brier"] == pytest.approx((1 - p) ** 2 + 3 * ((1 - p) / 3) ** 2)
    # ranked by mean: the wrong options, 4 tokens each, average -0.5 > -1: all turn wrong
    flipped = tmp_path / "flip.jsonl"
    flipped.write_text("".join(json.dumps(r | {"tokens": [
        1 if x == r["prediction"] else 4 for x, _ in s.fields["options"]]}) + "\n"
        for r, s in zip(rows, samples, strict=True)))
    res = cli("score", "--task", "toy_mmbench_likelihood", "--predictions",  # type: ignore[operator]
              str(flipped), "--data-root", str(DATA_ROOT), "--option", "ranking=mean",
              "--output", str(tmp_path / "flip.json"))
    assert res.code == 0, res.err
    entry = json.loads((tmp_path / "flip.json").read_text())
    metrics = entry.get("metrics") or entry["tasks"]["toy_mmbench_likelihood"]["metrics"]
    assert metrics["single_pass_accuracy"] == 0.0


@pytest.mark.parametrize("bad, message", [
    ({"logprobs": [-1.0, "x"], "tokens": [1, 1]}, "'logprobs' must be"),
    ({"logprobs": [-1.0, 0.5], "tokens": [1, 1]}, "'logprobs' must be"),
    ({"logprobs": [-1.0, -2.0], "tokens": [1]}, "'tokens' must"),
    ({"logprobs": [-1.0, -2.0], "tokens": [1, 0]}, "'tokens' must"),
    ({"logprobs": [-1.0, -2.0], "tokens": [1, True]}, "'tokens' must"),
    ({"logprobs": [-1.0, -2.0], "tokens": [1, 2 ** 40]}, "'tokens' must"),
    ({"logprobs": [-1.0, -(10 ** 400)], "tokens": [1, 1]}, "'logprobs' must"),
])
def test_bad_scores_in_a_predictions_file_name_the_line(tmp_path: Path, bad: dict[str, object],
                                                        message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": 0, "prediction": "A", "logprobs": [-1.0],
                                "tokens": [1]}) + "\n" + json.dumps(
        {"id": 1, "prediction": "A", **bad}) + "\n")
    with pytest.raises(BadInputError, match=rf"p.jsonl: line 2: {message}"):
        read_predictions(path)


def test_text_predictions_are_refused_by_a_likelihood_task(cli: object, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": 0, "prediction": "A"}) + "\n")
    res: CliResult = cli("score", "--task", "toy_mmbench_likelihood",  # type: ignore[operator]
                         "--predictions", str(path), "--data-root", str(DATA_ROOT))
    assert res.code == 2 and "carry no per-option scores" in res.err


def test_partly_scored_predictions_are_refused(cli: object, tmp_path: Path) -> None:
    """A likelihood file where some rows lost their scores would count them wrong."""
    spec = build_specs(["toy_mmbench_likelihood"], DATA_ROOT, [], [], None)[0]
    rows = []
    for i, s in enumerate(load_samples(spec)):
        row: dict[str, object] = {"id": s.id, "prediction": s.targets}
        if i != 5:
            letters = [letter for letter, _ in s.fields["options"]]
            row |= {"tokens": [1] * len(letters),
                    "logprobs": [-1.0 if x == s.targets else -2.0 for x in letters]}
        rows.append(row)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res: CliResult = cli("score", "--task", "toy_mmbench_likelihood",  # type: ignore[operator]
                         "--predictions", str(path), "--data-root", str(DATA_ROOT))
    assert res.code == 2 and "1 prediction(s) carry no per-option scores" in res.err
    assert f"e.g. sample {rows[5]['id']!r}" in res.err or f"sample {rows[5]['id']}" in res.err


def test_scored_text_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    text = ScoredText("B", (-2.0, -0.5), (1, 3))
    for twin in (copy.deepcopy(text), pickle.loads(pickle.dumps(text))):
        assert twin == "B" and twin.same_scores(text)
