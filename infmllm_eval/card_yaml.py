"""Reading a card's YAML safely: size and file-type checks, then its events walked (no values
built) to refuse alias bombs, deep nesting and keys given twice, then the safe loader."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from infmllm_eval.errors import CardError, shown
from infmllm_eval.inputs import InputPolicy, open_checked

#: libyaml's parser when PyYAML has it (every command reads all the cards: ~10x faster);
#: the constructor, and so the values, are the safe loader's either way
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: a card holds a few dozen values; aliases (``*name``) may repeat a part of it, but a card
#: that expands to more values than this is an alias bomb ("billion laughs"), refused before
#: it is built: its value would be reported, walked or copied by later steps
MAX_CARD_NODES = 10_000
#: nesting deeper than this is refused before the (recursive) YAML composer sees it
MAX_CARD_DEPTH = 64


def _yaml_error(path: Path, exc: yaml.YAMLError) -> CardError:
    mark = getattr(exc, "problem_mark", None)
    pos = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return CardError(f"{path}: invalid YAML{pos}: {shown(problem, 120)[1:-1]}")


def _check_shape(path: Path, text: str, loader: Any) -> None:
    """Walk the card's YAML events (no values are built): refuse nesting deeper than
    MAX_CARD_DEPTH and aliases that expand to more than MAX_CARD_NODES values."""
    sizes: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    # [anchor, values so far, keys seen (a mapping) or None, next node is a key] per open
    # collection: a key given twice in one mapping is refused (YAML loaders keep the last
    # copy without a word: `normalization` twice silently changed a score)
    stack: list[list[Any]] = [[None, 0, None, False]]
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.CollectionEndEvent):
            top = stack[-1]
            if top[2] is not None:
                if top[3] and isinstance(event, yaml.ScalarEvent):
                    _check_key(path, event, top[2])
                top[3] = not top[3]
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_CARD_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise CardError(f"{path}: nested deeper than {MAX_CARD_DEPTH} levels (line "
                                f"{line}); a card is a flat list of fields")
            mapping = isinstance(event, yaml.MappingStartEvent)
            stack.append([event.anchor, 1, set() if mapping else None, mapping])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size, _, _ = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        else:
            continue
        if anchor:
            sizes[anchor] = size
        stack[-1][1] += size
        if stack[-1][1] > MAX_CARD_NODES:
            raise CardError(f"{path}: its YAML aliases expand to more than {MAX_CARD_NODES:,} "
                            "values (an alias bomb?); write the values out")


def _check_key(path: Path, event: Any, keys: set[str]) -> None:
    """Refuse a key seen before in the same mapping (``<<`` merges stay allowed once: keys
    written out next to them override what they merge, as YAML says)."""
    if event.value in keys:
        line = event.start_mark.line + 1 if event.start_mark else "?"
        raise CardError(f"{path}: line {line}: key {shown(event.value, 60)} appears twice in "
                        "one mapping (YAML keeps only the last copy); remove or rename one")
    keys.add(event.value)


#: a card is a few hundred bytes; a larger file is not a card (a sparse file of gigabytes
#: would be read by every command, as all cards are read)
MAX_CARD_BYTES = 1 << 20

#: a FIFO would block every command (all cards are read)
_CARD_FILE = InputPolicy(
    max_bytes=MAX_CARD_BYTES, pipes=False, nul=False, error=CardError,
    not_regular="{label}: it is {kind}, not a regular file; a card is a YAML file",
    too_large="{label}: {size} bytes; a card is a small YAML file (at most {limit} bytes)")


def read_card_yaml(path: Path) -> Any:
    """A card file's YAML value, after the size, type, nesting, alias and duplicate-key
    checks (one-line CardError otherwise)."""
    try:
        fh = open_checked(path, "card", _CARD_FILE)
        assert not isinstance(fh, bytes)  # the policy refuses pipes
        with fh:
            text = fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"{path}: cannot read card: {exc}") from None
    try:
        _check_shape(path, text, _FAST_LOADER)
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError as exc:
        error = exc
    except ValueError:  # int("7" * 5000): past Python's int conversion limit
        raise CardError(f"{path}: a number has more digits than Python converts "
                        f"({sys.get_int_max_str_digits():,}); fix the value") from None
    try:  # again with the pure-Python parser, whose messages are the clearer ones (events
        _check_shape(path, text, yaml.SafeLoader)  # only, depth-limited: no values built)
    except yaml.YAMLError as exc:
        error = exc
    raise _yaml_error(path, error) from None
