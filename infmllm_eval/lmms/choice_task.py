"""Functions of the lmms-eval task ``infmllm_toy_mmbench_likelihood``
(``tasks/infmllm_toy_mmbench_likelihood.yaml``): the 60 questions of the bundled toy MMBench
(the first CircularEval pass of each) as an lmms-eval ``multiple_choice`` task, read from
local files only. The prompt is the one ``infmllm-eval`` renders for the question with the
``multitask`` prompt style (the toy and tiny cards'), and the choices are the option texts
(``scored_text=text``): lmms-eval's ``acc`` (the option of highest summed log-probability,
with ``--model_args loglikelihood=loss``) equals ``single_pass_accuracy`` of
``infmllm-eval run --tasks toy_mmbench_likelihood`` (``ranking=sum``), as a fraction."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from infmllm_eval.data.images import load_image
from infmllm_eval.data.mmbench import load_mmbench
from infmllm_eval.families import get_family
from infmllm_eval.metrics.choice import CIRCULAR_STRIDE
from infmllm_eval.modeling.prompts import get_style
from infmllm_eval.types import Sample

TOY_TSV = Path(__file__).resolve().parent.parent / "toy" / "data" / "mmbench" / "toy_mmbench.tsv"
STYLE = "multitask"


@cache
def _samples() -> dict[int, Sample]:
    return {int(s.id): s for s in load_mmbench({"tsv": TOY_TSV}, {})}


def sample(doc: dict[str, Any]) -> Sample:
    """Our sample of a doc (a row of the TSV; its ``index`` is the sample id)."""
    return _samples()[int(doc["index"])]


def process_docs(dataset: Any) -> Any:
    """The first passes (rows whose index is below MMBench's circular stride)."""
    return dataset.filter(lambda doc: int(doc["index"]) < CIRCULAR_STRIDE)


def _options(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(letter), str(text)) for letter, text in sample(doc).fields["options"]]


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    image = sample(doc).image
    assert isinstance(image, str)  # every toy row has its image
    return [load_image(image)]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
                ) -> str:
    """The text after the image that ``infmllm-eval`` renders for this multiple-choice
    question (``Question:… Options: A. … Short answer:``)."""
    fields = get_family("multiple_choice").request_fields(sample(doc))
    return get_style(STYLE).render(fields).after


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The option texts, in the row's order (``scored_text=text``)."""
    return [text for _, text in _options(doc)]


def doc_to_target(doc: dict[str, Any]) -> int:
    """The position of the right option."""
    answer = sample(doc).targets
    return next(i for i, (letter, _) in enumerate(_options(doc)) if letter == answer)
