"""`lmms-eval --model infmllm` loglikelihood requests: each (context, continuation) is scored
as our adapter scores the question's options (same prompt, same continuation text); the
shipped multiple-choice task's acc equals `infmllm-eval run`'s single-pass accuracy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

lmms_eval = pytest.importorskip(
    "lmms_eval", reason="lmms-eval is not installed: it is the optional extra "
    "infmllm-eval[lmms] (the lmms CI step installs it and runs these tests)")

from lmms_eval.api.instance import Instance, unwrap_generation_output  # noqa: E402

from infmllm_eval.adapters import create_adapter  # noqa: E402
from infmllm_eval.catalog import resolve_model  # noqa: E402
from infmllm_eval.errors import BadInputError  # noqa: E402
from infmllm_eval.lmms import TASKS_DIR  # noqa: E402
from infmllm_eval.lmms.choice_task import (  # noqa: E402
    doc_to_choice,
    doc_to_target,
    doc_to_text,
    doc_to_visual,
    sample,
)
from infmllm_eval.lmms.model import InfMLLM, UnsupportedRequestError  # noqa: E402
from infmllm_eval.types import GenerationConfig, Request  # noqa: E402
from tests.conftest import CliResult  # noqa: E402

Cli = Callable[..., CliResult]
DOCS = [{"index": i} for i in range(10)]  # the first ten toy MMBench questions
META = {"task": "toy", "doc_id": 0, "repeats": 1}


def instances(docs: list[dict[str, Any]], delimiter: str = " ") -> list[Instance]:
    """What lmms-eval's multiple_choice task sends: one request per choice of every doc."""
    return [Instance("loglikelihood", (doc_to_text(doc), f"{delimiter}{choice}", doc_to_visual,
                                       i, "toy", "test"),
                     idx=k, metadata={"task": "toy", "doc_id": i, "repeats": 1})
            for i, doc in enumerate(docs) for k, choice in enumerate(doc_to_choice(doc))]


def make_model(card: str = "infmllm-tiny", **args: Any) -> InfMLLM:
    model = InfMLLM(card=card, **args)
    model.task_dict = {"toy": {"test": DOCS}}
    return model


def answers(model: InfMLLM, requests: list[Instance]) -> list[tuple[float, bool]]:
    """The answers as lmms-eval's evaluator reads them (its unwrap_generation_output)."""
    return [unwrap_generation_output(x)[0] for x in model.loglikelihood(requests)]


def same(got: list[tuple[float, bool]], want: list[tuple[float, bool]]) -> None:
    assert [g for _, g in got] == [g for _, g in want]
    assert [v for v, _ in got] == pytest.approx([v for v, _ in want], abs=1e-5)


def ours() -> list[list[tuple[float, bool]]]:
    """Our adapter on the same questions, as `infmllm-eval run` asks: the multiple-choice
    fields (the prompt style renders them) and the option texts."""
    adapter = create_adapter(resolve_model("infmllm-tiny"), {})
    requests = []
    for doc in DOCS:
        s = sample(doc)
        fields = {"question": s.fields["question"], "hint": s.fields["hint"],
                  "options": s.fields["options"]}
        requests.append(Request(str(s.id), s.image, "multiple_choice", fields,
                                GenerationConfig(), tuple(doc_to_choice(doc))))
    return [[(lk.logprob, lk.greedy) for lk in r.likelihoods]
            for r in adapter.loglikelihood(requests)]


@pytest.mark.parametrize("batch", [1, 4])
def test_loss_and_greedy_equal_our_scores(batch: int) -> None:
    """Each answer is (summed negative log-probability, every token the argmax) of the
    option our run scores, in request order, at batch 1 and 4."""
    want = [(-lp, greedy) for per_doc in ours() for lp, greedy in per_doc]
    got = answers(make_model(batch_size=batch), instances(DOCS))
    same(got, want)
    assert all(v > 0 for v, _ in got)


def test_order_kept_and_delimiter_dropped() -> None:
    """Requests of several docs interleaved come back in their order; the target
    delimiter's space does not change the score; logprob gives the log-probability."""
    requests = instances(DOCS[:3])
    shuffled = requests[::-1]
    loss = answers(make_model(batch_size=2), requests)
    by_id = {id(r): a for r, a in zip(requests, loss, strict=True)}
    same(answers(make_model(batch_size=2), shuffled), [by_id[id(r)] for r in shuffled])
    same(answers(make_model(), instances(DOCS[:3], "")), loss)
    logprob = answers(make_model(loglikelihood="logprob"), requests)
    assert [v for v, _ in logprob] == pytest.approx([-v for v, _ in loss], abs=1e-5)


def test_prefix_shared_once_per_doc() -> None:
    """The four choices of a doc are one likelihood request of four continuations."""
    model = make_model(batch_size=3)
    seen: list[int] = []
    scored = model.adapter.loglikelihood

    def counting(requests: list[Request]) -> Any:
        seen.extend(len(r.continuations) for r in requests)
        return scored(requests)

    model.adapter.loglikelihood = counting  # type: ignore[method-assign]
    model.loglikelihood(instances(DOCS[:5]))
    assert seen == [4] * 5


def test_loglikelihood_output_type_target_function() -> None:
    """output_type loglikelihood passes doc_to_target itself: it is called on the doc."""
    doc = DOCS[0]
    right = doc_to_choice(doc)[doc_to_target(doc)]
    req = Instance("loglikelihood", (doc_to_text(doc), lambda d: right, doc_to_visual, 0,
                                     "toy", "test"), idx=0, metadata=META)
    (got,) = answers(make_model(), [req])
    (want,) = answers(make_model(), instances([doc], "")[doc_to_target(doc):][:1])
    same([got], [want])


def test_a_model_that_cannot_score_is_refused_before_any_work() -> None:
    model = make_model(card="scripted", default="a")
    read: list[int] = []

    def visuals(doc: dict[str, Any]) -> Any:
        read.append(1)
        return doc_to_visual(doc)

    req = Instance("loglikelihood", ("q", " a", visuals, 0, "toy", "test"), idx=0, metadata=META)
    with pytest.raises(UnsupportedRequestError, match="cannot score loglikelihood"):
        model.loglikelihood([req])
    assert read == []


@pytest.mark.parametrize(("continuation", "message"), [
    ("  ", "doc 0: empty continuation"),
    (lambda doc: 2, "doc 0: the continuation must be text"),
])
def test_bad_continuations(continuation: Any, message: str) -> None:
    req = Instance("loglikelihood", ("q", continuation, doc_to_visual, 0, "toy", "test"),
                   idx=0, metadata=META)
    with pytest.raises(BadInputError, match=message):
        make_model().loglikelihood([req])


def test_bad_value_kind() -> None:
    with pytest.raises(BadInputError, match="loglikelihood='prob': expected loss or logprob"):
        InfMLLM(card="infmllm-tiny", loglikelihood="prob")


@pytest.mark.slow
def test_lmms_eval_cli_multiple_choice_equals_our_run(cli: Cli, tmp_path: Path) -> None:
    """lmms-eval's own CLI on the shipped multiple-choice task: acc (argmin of the losses)
    equals the single-pass accuracy of `infmllm-eval run --tasks toy_mmbench_likelihood`
    (ranking=sum, scored_text=text), and every option's loss is minus our log-probability."""
    exe = shutil.which("lmms-eval", path=str(Path(sys.executable).parent))
    assert exe, "the lmms-eval console script is not installed next to this Python"
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    subprocess.run([exe, "--model", "infmllm", "--model_args", "card=infmllm-tiny",
                    "--tasks", "infmllm_toy_mmbench_likelihood", "--include_path",
                    str(TASKS_DIR), "--batch_size", "8", "--log_samples",
                    "--output_path", str(tmp_path / "lmms")], check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    (results,) = (tmp_path / "lmms").rglob("*_results.json")
    (samples,) = (tmp_path / "lmms").rglob("*_samples_infmllm_toy_mmbench_likelihood.jsonl")
    acc = json.loads(results.read_text())["results"]["infmllm_toy_mmbench_likelihood"][
        "acc,none"]
    res = cli("run", "--model", "infmllm-tiny", "--tasks", "toy_mmbench_likelihood",
              "--output-dir", str(tmp_path / "runs"), "--run-name", "ours")
    assert res.code == 0, res.err
    run = tmp_path / "runs" / "ours"
    metrics = json.loads((run / "metrics.json").read_text())["tasks"]["toy_mmbench_likelihood"]
    assert 0 < acc < 1  # the random tiny model: a number that can differ
    assert 100 * acc == pytest.approx(metrics["metrics"]["single_pass_accuracy"])
    preds = {r["id"]: r["logprobs"] for r in map(json.loads, (
        run / "predictions" / "toy_mmbench_likelihood.jsonl").read_text().splitlines())}
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(lines) == 60
    for rec in lines:
        loss = [float(value) for value, _ in rec["filtered_resps"]]
        assert loss == pytest.approx([-v for v in preds[rec["doc_id"]]], abs=1e-4)
