"""Find the parts of InfMLLM in a checkpoint by what they are, wherever they are nested.

A checkpoint is a flat mapping of names to tensors. Released InfMLLM checkpoints nest the same
four parts differently (the original ``visual_encoder.*``/``lm_model.*`` names, the LLaVA-style
chat class with ``model.vision_tower.*``/``model.mm_projector.*``, a plain HF LLaMA folder with
the vision part in a second file). ``place`` finds each part by its structure and gives every
tensor its canonical (original) name:

- the EVA ViT: the prefix of ``blocks.0.attn.qkv.weight`` that also holds ``pos_embed`` and
  ``patch_embed.proj.weight`` (its tensors: cls_token, pos_embed, patch_embed, blocks, and the
  EVA extras norm/fc_norm/head/rel_pos_bias, which the model then reports as unexpected);
- the LLaMA: the prefix of ``layers.0.self_attn.q_proj.weight`` holding ``embed_tokens`` (its
  tensors: embed_tokens, layers, norm) and the one ``lm_head.weight``;
- the pool adapter: the two Linear layers under one parent, ViT width → LLM width → LLM width;
- ln_vision: the one remaining weight/bias pair of the ViT's width.

A card's ``key_map`` (regular expression → replacement, or null to drop) renames keys first,
for a layout this detection cannot place.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor

from infmllm_eval.errors import BadInputError, shown

IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # recomputed buffers that old LLaMA dumps carry
VIT_NAMES = ("cls_token", "pos_embed", "patch_embed", "blocks", "norm", "fc_norm", "head",
             "rel_pos_bias")
LLM_NAMES = ("embed_tokens", "layers", "norm")
PARTS = {"vit": "the EVA ViT", "ln_vision": "ln_vision", "pooler": "the pool adapter",
         "llm": "the LLaMA"}
CANONICAL_ROOTS = {"vit": "visual_encoder.", "ln_vision": "ln_vision.", "pooler": "pooler.mlp.",
                   "llm": "lm_model.model."}
MAX_KEY_MAP_RULES = 256
KEY_MAP_SECONDS = 5.0


@dataclass
class Placement:
    """Where each part was found and the canonical name → checkpoint key of every tensor."""

    mapping: dict[str, str] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    renamed: int = 0
    two_files: bool = False  # an LLM checkpoint plus a vision_weights checkpoint

    @property
    def layout(self) -> str:
        """A name for what was found: original, llava, or custom (with where the parts are)."""
        if any(part not in self.roots for part in (*PARTS, "lm_head")):
            return "unknown"
        suffix = " + key_map" if self.renamed else ""
        vit, llm, head = self.roots["vit"], self.roots["llm"], self.roots["lm_head"]
        if self.two_files:
            return ("hf-llama + vision_weights" if llm == "model." and head == "lm_head.weight"
                    else "custom (two files)") + suffix
        if all(self.roots[p] == CANONICAL_ROOTS[p] for p in PARTS) and \
                head == "lm_model.lm_head.weight":
            return "original" + suffix
        if llm == "model." and head == "lm_head.weight" and \
                vit.startswith("model.vision_tower.") and \
                self.roots["pooler"].startswith("model.mm_projector."):
            return "llava" + suffix
        return "custom" + suffix

    def where(self) -> str:
        """'ViT at 'X', ln_vision at …' for messages."""
        return ", ".join(f"{PARTS.get(p, p)} at {shown(r)}" for p, r in self.roots.items())

    def check(self, source: str) -> None:
        """Refuse a checkpoint whose parts were not all found or that has tensors left over."""
        if self.problems:
            raise BadInputError(f"{source}: {'; '.join(self.problems)} ({len(self.mapping)} of "
                                f"{len(self.mapping) + len(self.unplaced)} tensors placed); a "
                                "model card can name the tensors with key_map (see README "
                                "'Running the released checkpoints')")
        if self.unplaced:
            raise BadInputError(f"{source}: {len(self.unplaced)} tensor(s) belong to no part of "
                                f"InfMLLM: {few(self.unplaced)} (found {self.where()}); a model "
                                "card's key_map can rename or drop them (null)")


def few(items: list[str], limit: int = 5) -> str:
    """The first few names, shown safely, and how many more."""
    text = ", ".join(shown(item) if not item.isprintable() or len(item) > 80 else item
                     for item in items[:limit])
    return text + (f", … (+{len(items) - limit} more)" if len(items) > limit else "")


def compile_key_map(rules: Mapping[str, str | None], source: str) -> list[
        tuple[re.Pattern[str], str | None]]:
    """Compile a card's key_map: each key a regular expression matched at the start of a
    checkpoint key, each value its replacement (``\\1`` groups allowed) or None to drop."""
    if len(rules) > MAX_KEY_MAP_RULES:
        raise BadInputError(f"{source}: key_map has {len(rules)} rules (at most "
                            f"{MAX_KEY_MAP_RULES})")
    compiled = []
    for pattern, replacement in rules.items():
        try:
            compiled.append((re.compile(pattern), replacement))
        except re.error as exc:
            raise BadInputError(f"{source}: key_map pattern {shown(pattern)} is not a regular "
                                f"expression: {exc}") from None
    return compiled


def apply_key_map(keys: list[str], rules: list[tuple[re.Pattern[str], str | None]],
                  source: str) -> tuple[dict[str, str], list[str], int]:
    """new name → checkpoint key, the dropped keys, and how many keys a rule renamed. A rule
    set that takes longer than KEY_MAP_SECONDS (a pattern that backtracks catastrophically,
    such as ``(.|.)*Z``) is stopped with an error when this runs in the main thread."""
    if not rules:
        return dict(zip(keys, keys, strict=True)), [], 0
    with _deadline(KEY_MAP_SECONDS, f"{source}: key_map took more than {KEY_MAP_SECONDS} s on "
                   f"{len(keys)} keys: a pattern backtracks catastrophically (nested "
                   "quantifiers such as (a|a)* or (.*)*); simplify it"):
        return _apply(keys, rules, source)


@contextmanager
def _deadline(seconds: float, message: str) -> Iterator[None]:
    """Raise BadInputError(message) in the main thread after ``seconds`` (SIGALRM; the regex
    engine checks for signals). Elsewhere, or without SIGALRM, no limit."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise BadInputError(message)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _apply(keys: list[str], rules: list[tuple[re.Pattern[str], str | None]],
           source: str) -> tuple[dict[str, str], list[str], int]:
    names: dict[str, str] = {}
    dropped: list[str] = []
    renamed = 0
    for key in keys:
        new = key
        for pattern, replacement in rules:
            if pattern.match(key):
                if replacement is None:
                    new = ""
                else:
                    try:
                        new = pattern.sub(replacement, key, count=1)
                    except (re.error, IndexError) as exc:
                        raise BadInputError(f"{source}: key_map replacement "
                                            f"{shown(replacement)}: {exc}") from None
                renamed += new != key
                break
        if not new:
            dropped.append(key)
            continue
        if new in names:
            raise BadInputError(f"{source}: key_map gives two tensors the name {shown(new)} "
                                f"({shown(names[new])} and {shown(key)})")
        names[new] = key
    return names, dropped, renamed


def place(tensors: Mapping[str, Tensor],
          rules: list[tuple[re.Pattern[str], str | None]] | None = None,
          source: str = "checkpoint") -> Placement:
    """Find the four parts in ``tensors`` (after the key_map ``rules``); see the module doc."""
    names, dropped, renamed = apply_key_map(list(tensors), rules or [], source)
    out = Placement(ignored=dropped, renamed=renamed)
    left = {name for name in names if not name.endswith(IGNORED_SUFFIXES)}
    out.ignored += [names[n] for n in names if n not in left]

    def shape(name: str) -> tuple[int, ...]:
        return tuple(tensors[names[name]].shape)

    def claim(canonical: str, name: str) -> None:
        out.mapping[canonical] = names[name]
        left.discard(name)

    vit = _root(left, r"(.*)blocks\.0\.attn\.qkv\.weight", ("pos_embed", "patch_embed.proj.weight"),
                ("the EVA ViT", "blocks.0.attn.qkv.weight beside pos_embed and patch_embed"), out)
    llm = _root(left, r"(.*)layers\.0\.self_attn\.q_proj\.weight", ("embed_tokens.weight",),
                ("the LLaMA", "layers.0.self_attn.q_proj.weight beside embed_tokens"), out)
    if vit is not None:
        out.roots["vit"] = vit
        for name in sorted(left):
            if name.startswith(vit) and name[len(vit):].split(".")[0] in VIT_NAMES:
                claim("visual_encoder." + name[len(vit):], name)
    if llm is not None:
        out.roots["llm"] = llm
        for name in sorted(left):
            if name.startswith(llm) and name[len(llm):].split(".")[0] in LLM_NAMES:
                claim("lm_model.model." + name[len(llm):], name)
    heads = sorted(n for n in left if n == "lm_head.weight" or n.endswith(".lm_head.weight"))
    if len(heads) == 1:
        out.roots["lm_head"] = heads[0]
        claim("lm_model.lm_head.weight", heads[0])
    else:
        out.problems.append("lm_head.weight (the LLM output layer) " + (
            f"found more than once: {few(heads)}" if heads else
            "not found (tied input and output embeddings are not InfMLLM's LLaMA: Vicuna keeps "
            "a separate lm_head)"))
    if vit is None or llm is None:
        out.unplaced = sorted(names[n] for n in left)
        return out
    vit_width = shape(vit + "pos_embed")[-1]
    llm_width = shape(llm + "embed_tokens.weight")[-1]
    pooler = _pooler(left, shape, vit_width, llm_width)
    if pooler is None:
        out.problems.append(f"the pool adapter not found (two Linear layers {vit_width} → "
                            f"{llm_width} → {llm_width} under one parent)")
    else:
        out.roots["pooler"] = pooler[0].removesuffix(".weight").rpartition(".")[0] + "."
        for index, first in enumerate(pooler):
            base = first.removesuffix(".weight")
            claim(f"pooler.mlp.{2 * index}.weight", first)
            claim(f"pooler.mlp.{2 * index}.bias", base + ".bias")
    norms = sorted(n.removesuffix(".weight") for n in left if n.endswith(".weight")
                   and n.removesuffix(".weight") + ".bias" in left
                   and shape(n) == (vit_width,) == shape(n.removesuffix(".weight") + ".bias"))
    named = [n for n in norms if "ln_vision" in n]
    chosen = named if len(named) == 1 else norms
    if len(chosen) == 1:
        out.roots["ln_vision"] = chosen[0] + "."
        claim("ln_vision.weight", chosen[0] + ".weight")
        claim("ln_vision.bias", chosen[0] + ".bias")
    else:
        hint = "".join(f"; {n} has shape {list(shape(n))}" for n in sorted(left)
                       if "ln_vision" in n and shape(n) != (vit_width,))[:300]
        if vit + "norm.weight" in names:
            hint += f"; the ViT's own final norm {shown(vit + 'norm')} is not ln_vision"
        out.problems.append("ln_vision " + (f"found more than once: {few(chosen)}" if chosen
                                            else "not found") +
                            f" (a LayerNorm weight and bias of width {vit_width} outside the "
                            f"ViT{hint})")
    out.roots = {p: out.roots[p] for p in (*PARTS, "lm_head") if p in out.roots}
    out.unplaced = sorted(names[n] for n in left)
    return out


def _root(left: set[str], pattern: str, siblings: tuple[str, ...], what: tuple[str, str],
          out: Placement) -> str | None:
    regex = re.compile(pattern)
    roots = sorted({m.group(1) for n in left if (m := regex.fullmatch(n))
                    and all(m.group(1) + s in left for s in siblings)})
    if len(roots) == 1:
        return roots[0]
    found = f"found more than once, at {few([r or '(top level)' for r in roots])}" if roots \
        else "not found"
    out.problems.append(f"{what[0]} {found} ({what[1]})")
    return None


def _pooler(left: set[str], shape: Callable[[str], tuple[int, ...]], vit_width: int,
            llm_width: int) -> list[str] | None:
    """The two Linear weights of the pool adapter, in order, or None when not exactly one
    parent holds them."""
    by_parent: dict[str, list[tuple[int, str]]] = {}
    for name in left:
        base = name.removesuffix(".weight")
        if name == base or base + ".bias" not in left:
            continue
        dims = shape(name)
        if len(dims) != 2 or dims[0] != llm_width or shape(base + ".bias") != (llm_width,):
            continue
        parent, _, index = base.rpartition(".")
        order = int(index) if index.isdigit() else -1
        by_parent.setdefault(parent, []).append((order, name))
    found = []
    for layers in by_parent.values():
        layers.sort()
        if len(layers) == 2 and shape(layers[0][1])[1] == vit_width and \
                shape(layers[1][1])[1] == llm_width:
            found.append([name for _, name in layers])
    return found[0] if len(found) == 1 else None


def derived_sizes(tensors: Mapping[str, Tensor], placement: Placement) -> dict[str, int]:
    """Architecture sizes read from tensor shapes (card field name → value)."""
    src = {canon: tuple(tensors[key].shape) for canon, key in placement.mapping.items()}
    sizes: dict[str, int] = {}
    pos, patch = src.get("visual_encoder.pos_embed"), src.get(
        "visual_encoder.patch_embed.proj.weight")
    if pos and patch and len(pos) == 3 and len(patch) == 4:
        grid = round((pos[1] - 1) ** 0.5)
        sizes.update(image_size=grid * patch[-1], patch_size=patch[-1], vit_width=pos[2])
    sizes["vit_depth"] = _count(src, r"visual_encoder\.blocks\.(\d+)\.")
    fc1 = src.get("visual_encoder.blocks.0.mlp.fc1.weight")
    if fc1:
        sizes["vit_mlp_hidden"] = fc1[0]
    embed = src.get("lm_model.model.embed_tokens.weight")
    if embed and len(embed) == 2:
        sizes.update(vocab=embed[0], llm_hidden=embed[1])
    sizes["llm_layers"] = _count(src, r"lm_model\.model\.layers\.(\d+)\.")
    gate = src.get("lm_model.model.layers.0.mlp.gate_proj.weight")
    if gate:
        sizes["llm_intermediate"] = gate[0]
    kv = src.get("lm_model.model.layers.0.self_attn.k_proj.weight")
    if kv:
        sizes["llm_kv_width"] = kv[0]
    return {k: v for k, v in sizes.items() if v}


def _count(shapes: Mapping[str, object], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in shapes if (m := regex.match(key))})
