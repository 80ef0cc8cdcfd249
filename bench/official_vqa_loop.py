"""The official VQA per-question evaluate loop, re-stated without caching, as a timing baseline.

Structure of ``VQAEval.evaluate`` (GT-Vision-Lab/VQA, ``vqaEval.py``): per question, take the
answer dicts, clean and normalise them and the prediction per the variant (every time: no memo),
then for every answer dict build the list of the *other* dicts (dict inequality) and the list of
those equal to the prediction, and average min(1, matches / 3).  The inputs are not modified: the
answer dicts are copied per question, as a deep-copying caller of the official code would.
"""

from __future__ import annotations

from typing import Any

from infmllm_eval.errors import UnknownNameError
from infmllm_eval.metrics.vqa_normalize import (
    ARTICLES,
    COMMA_STRIP,
    CONTRACTIONS,
    NUMBER_WORDS,
    PERIOD_STRIP,
    PERIOD_STRIP_COUNT,
    PUNCTUATION,
    evalai_word_tokenize,
)

VARIANTS = ("official-current", "official-2017", "always", "evalai")


def process_punctuation(text: str) -> str:
    """The official ``processPunctuation`` cost structure: per punctuation character, two
    substring tests and (when both fail) a regex search of the whole text, then a replace."""
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or (COMMA_STRIP.search(text) is not None):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, PERIOD_STRIP_COUNT)


_NUMBER_MAP = dict(NUMBER_WORDS)
_ARTICLE_LIST = list(ARTICLES)


def process_digit_article(text: str) -> str:
    """The official ``processDigitArticle``: setdefault on the number map (which the original
    grows with every word it sees), a list membership test for articles, a second pass for
    contractions."""
    words = []
    for word in text.lower().split():
        word = _NUMBER_MAP.setdefault(word, word)
        if word not in _ARTICLE_LIST:
            words.append(word)
    for i, word in enumerate(words):
        if word in CONTRACTIONS:
            words[i] = CONTRACTIONS[word]
    return " ".join(words)


def evalai_normalize(text: str) -> str:
    """EvalAI's processor: word_tokenize, whitespace clean-up, punctuation, digits/articles."""
    return process_digit_article(process_punctuation(_clean(evalai_word_tokenize(text))))


def _clean(text: str) -> str:
    text = text.replace("\n", " ")
    text = text.replace("\t", " ")
    return text.strip()


def _normalise_question(answers: list[dict[str, Any]], pred: str, variant: str) -> str:
    """Normalise ``answers`` in place as the variant's loop does; return the prediction."""
    if variant == "official-current":
        for ans in answers:
            ans["answer"] = _clean(ans["answer"])
        pred = _clean(pred)
        if len({ans["answer"] for ans in answers}) > 1:
            for ans in answers:
                ans["answer"] = process_punctuation(ans["answer"])
                ans["answer"] = process_digit_article(ans["answer"])
            pred = process_punctuation(pred)
            pred = process_digit_article(pred)
    elif variant == "official-2017":
        pred = process_digit_article(process_punctuation(_clean(pred)))
        if len({ans["answer"] for ans in answers}) > 1:
            for ans in answers:
                ans["answer"] = process_punctuation(ans["answer"])
    elif variant == "always":
        for ans in answers:
            ans["answer"] = process_digit_article(process_punctuation(_clean(ans["answer"])))
        pred = process_digit_article(process_punctuation(_clean(pred)))
    else:
        for ans in answers:
            ans["answer"] = evalai_normalize(ans["answer"])
        pred = evalai_normalize(pred)
    return pred


def official_loop_accuracy(
    questions: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    results: list[dict[str, Any]],
    variant: str,
) -> dict[int, float]:
    """Per-question accuracy in [0, 1] for every question, computed the official way."""
    if variant not in VARIANTS:
        raise UnknownNameError(f"unknown VQA normalization {variant!r}; valid: {VARIANTS}")
    gts = {ann["question_id"]: ann for ann in annotations}
    res = {r["question_id"]: r for r in results}
    out: dict[int, float] = {}
    for question in questions:
        qid = question["question_id"]
        answers = [dict(ans) for ans in gts[qid]["answers"]]
        pred = _normalise_question(answers, res[qid]["answer"], variant)
        gt_acc = []
        for datum in answers:
            others = [item for item in answers if item != datum]
            matching = [item for item in others if item["answer"] == pred]
            gt_acc.append(min(1, float(len(matching)) / 3))
        out[qid] = float(sum(gt_acc)) / len(gt_acc)
    return out
