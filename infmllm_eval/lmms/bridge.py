"""lmms-eval's generate_until requests in our terms: decoding settings, stop strings, the image,
batching through the adapter. No lmms_eval import here (the model class is a thin shell)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from infmllm_eval.data.images import data_uri
from infmllm_eval.engine.batching import plan_batches
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.types import GenerationConfig, Request, Response

#: How lmms-eval's text reaches the model: ``instruction`` puts the task's prompt in the
#: model's conversation template as it is; ``question`` treats it as a question and renders the
#: model's own VQA template (the original InfMLLM evaluation prompt for the multitask model).
PROMPT_FAMILIES = {"instruction": ("instruction", "text"), "question": ("vqa", "question")}

#: max_new_tokens when neither the task nor the model card gives one
DEFAULT_MAX_NEW_TOKENS = 128

#: generation_kwargs that only other models use (their own image handling)
IGNORED_KWARGS = frozenset({"image_aspect_ratio"})


@dataclass(frozen=True)
class Pending:
    """One lmms-eval request made ours: the Request (its image still unread), its stop
    strings, and how to get its visuals when its batch runs (holding every image of a
    benchmark at once would not fit in memory)."""

    request: Request
    until: tuple[str, ...]
    visuals: Callable[[], Any]
    where: str


def _number(kwargs: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = kwargs[key]
    number: Any = None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    try:
        if ok and kind is int:
            ok = isinstance(value, int) or float(value).is_integer()
        if ok:
            number = kind(value)
            ok = math.isfinite(number)
    except (OverflowError, ValueError):  # a 400-digit integer, an infinite float
        ok = False
    if not ok:
        raise BadInputError(f"{where}: generation setting {key}={shown(value)} is not a "
                            "number")
    return number


def _until(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise BadInputError(f"{where}: 'until' must be a string or a list of strings")
    return tuple(s for s in items if s)


def generation_from_kwargs(kwargs: Mapping[str, Any], base: GenerationConfig,
                           where: str) -> tuple[GenerationConfig, tuple[str, ...]]:
    """lmms-eval ``generation_kwargs`` → our decoding settings and stop strings.

    As lmms-eval's own models do, ``temperature`` 0 means greedy and a positive one samples
    (unless ``do_sample`` says otherwise). Settings we cannot honour are refused, never
    dropped: they would change the answers."""
    values: dict[str, Any] = {}
    for key in ("max_new_tokens", "min_new_tokens", "num_beams"):
        if kwargs.get(key) is not None:
            values[key] = _number(kwargs, key, int, where)
    if kwargs.get("length_penalty") is not None:
        values["length_penalty"] = _number(kwargs, "length_penalty", float, where)
    temperature = kwargs.get("temperature")
    if temperature is not None:
        values["temperature"] = _number(kwargs, "temperature", float, where)
        values["do_sample"] = values["temperature"] > 0
        if not values["do_sample"]:
            values["temperature"] = 1.0
    if kwargs.get("do_sample") is not None:
        values["do_sample"] = bool(kwargs["do_sample"])
    gen = replace(base, **values)
    top_p = kwargs.get("top_p")
    if top_p is not None and (not isinstance(top_p, int | float) or isinstance(top_p, bool)
                              or not math.isfinite(top_p)):
        raise BadInputError(f"{where}: generation setting top_p={shown(top_p)} is not a "
                            "number")
    if gen.do_sample and top_p is not None and float(top_p) not in (0.0, 1.0):
        raise BadInputError(f"{where}: top_p={top_p} sampling is not supported by infmllm "
                            "(greedy, beam search or plain sampling)")
    known = {"max_new_tokens", "min_new_tokens", "num_beams", "length_penalty", "temperature",
             "do_sample", "top_p", "until"} | IGNORED_KWARGS
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise BadInputError(f"{where}: generation setting(s) {', '.join(unknown)} are not "
                            f"supported by infmllm (supported: {', '.join(sorted(known))})")
    if gen.min_new_tokens > gen.max_new_tokens:
        gen = replace(gen, min_new_tokens=gen.max_new_tokens)
    return gen, _until(kwargs.get("until"), where)


def image_reference(visuals: Any, where: str) -> str:
    """The one image of a request as a lossless in-memory reference (PNG data URI): equal
    images give equal references, so the adapter runs the ViT once per image."""
    items = visuals if isinstance(visuals, list | tuple) else [visuals]
    images = [v for v in items if v is not None]
    if len(images) != 1 or not isinstance(images[0], Image.Image):
        kinds = ", ".join(type(v).__name__ for v in images) or "nothing"
        raise BadInputError(f"{where}: infmllm takes exactly one image per request, the task "
                            f"gave {len(images)} visual(s) ({kinds}); video, audio and "
                            "multi-image tasks are not supported")
    image = images[0]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return data_uri(base64.b64encode(buffer.getvalue()).decode("ascii"), "png")


def make_request(key: str, context: str, visuals: Callable[[], Any],
                 kwargs: Mapping[str, Any], base: GenerationConfig, prompt: str,
                 where: str) -> Pending:
    """One lmms-eval generate_until request as ours (``visuals`` is called when it runs)."""
    if not isinstance(context, str):
        raise BadInputError(f"{where}: the prompt must be text, got {type(context).__name__} "
                            "(chat-message tasks are not supported)")
    family, field = PROMPT_FAMILIES[prompt]
    gen, until = generation_from_kwargs(kwargs, base, where)
    return Pending(Request(key, None, family, {field: context}, gen), until, visuals, where)


def with_image(pending: Pending) -> Request:
    """The request with its image read (a PNG data URI of the doc's one image)."""
    return replace(pending.request, image=image_reference(pending.visuals(), pending.where))


def trim(text: str, until: Sequence[str]) -> str:
    """The text before the first stop string (lmms-eval's ``until``)."""
    cut = min((i for i in (text.find(s) for s in until) if i >= 0), default=len(text))
    return text[:cut]


def generate_all(pending: Sequence[Pending], generate: Callable[[list[Request]], list[Response]],
                 batch_size: int, cost: Callable[[Request], int],
                 progress: Callable[[int], None] = lambda n: None) -> list[str]:
    """Answers in request order. Requests with equal decoding settings are batched by the
    engine's ``plan_batches``, longest prompts first (padding stays small and a memory error
    shows at once); each batch's images are read when it runs."""
    by_setting: dict[GenerationConfig, list[int]] = {}
    for i, item in enumerate(pending):
        by_setting.setdefault(item.request.generation, []).append(i)
    texts = [""] * len(pending)
    for _, indices in sorted(by_setting.items(), key=lambda group: str(group[0])):
        for batch in plan_batches(indices, batch_size, lambda i: -cost(pending[i].request),
                                  window=len(indices)):
            responses = generate([with_image(pending[i]) for i in batch])
            for i, response in zip(batch, responses, strict=True):
                texts[i] = trim(response.text, pending[i].until).strip()
            progress(len(batch))
    return texts
