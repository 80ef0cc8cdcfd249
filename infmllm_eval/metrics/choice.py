"""Multiple choice: which option an answer picks (by rules only), and CircularEval.

Rules, in order (the answer is NFKC-normalised first, so full-width letters count):
1. the whole answer is one option's text, or one letter ("B", "(b)", "C.");
2. it states a letter: "the answer is B", "Answer: C", "I choose D", "答案是B", "选C"
   (the last statement wins);
3. it starts with a letter and a delimiter ("B. Good conductivity", "C) ...", "D:");
4. outside the text of the options it quotes, it names exactly one option letter as a word
   (an "A" followed by a lower-case word is the article, not a letter);
5. it contains the text of exactly one option (an option whose text lies inside another
   matched option's text is not counted).
Anything else (refusals, several letters, several options) is unresolved: wrong, and
counted. Never a random letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

Options = Sequence[tuple[str, str]]

CIRCULAR_STRIDE = 1_000_000  # pass p of question q has index q + p * stride

_BARE = re.compile(r"[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:。]?")
_LEADING = re.compile(r"[(\[]?([A-Z])(?:[)\]]|[.:：、]|\s*\n)")
_STATED = re.compile(
    r"(?:answer\s*(?:is|would be|should be|:)?|correct (?:option|choice) is|"
    r"(?:i )?(?:choose|select|pick)(?: option| choice)?|答案(?:是|为|应该是|应为)?|选择?项?)"
    r"\s*[:：]?\s*(?:option\s*)?[(\[]?([A-Za-z])[)\]]?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_LONE = re.compile(r"(?<![A-Za-z0-9])[(\[]?([A-Z])[)\]]?(?![A-Za-z0-9'’])")
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
# after these words an "A" is a letter ("A and C", "A is right"), elsewhere the article
_LETTER_CONTEXT = frozenset({"and", "or", "nor", "but", "is", "was", "are", "seems", "looks",
                             "would", "should", "could", "might", "may", "must", "because",
                             "since", "as", "which", "that"})
_TRAILING = " \t\n.。!！"


def _collapse(text: str) -> str:
    """NFKC, whitespace runs to one space, trailing full stops and spaces removed."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).rstrip(_TRAILING)


def _norm(text: str) -> str:
    return _collapse(text).lower()


def _next_word(text: str, end: int) -> str | None:
    found = _NEXT_WORD.match(text, end)
    return found.group(1) if found else None


def _is_article(text: str, end: int, letter: str) -> bool:
    """An 'A'/'a' followed by a lower-case word (other than 'and', 'is' ...) is the article."""
    word = _next_word(text, end) if letter in "Aa" else None
    return word is not None and word not in _LETTER_CONTEXT


def _lower_same_length(text: str) -> str:
    """text.lower(), keeping each character's position (a few lower to two characters)."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def _word_edge(text: str, at: int) -> bool:
    """No ASCII letter or digit at ``at`` (outside the text counts as an edge)."""
    return not (0 <= at < len(text) and text[at].isascii() and text[at].isalnum())


def _text_spans(answer: str, options: Options) -> list[tuple[str, int, int]]:
    """(letter, start, end) of every option text found in the collapsed answer; an option
    text that starts or ends with an ASCII letter/digit must do so at a word edge."""
    haystack = _lower_same_length(answer)
    spans = []
    for letter, text in options:
        needle = _norm(text)
        if not needle:
            continue
        check_start = needle[0].isascii() and needle[0].isalnum()
        check_end = needle[-1].isascii() and needle[-1].isalnum()
        at = haystack.find(needle)
        while at >= 0:
            stop = at + len(needle)
            if (not check_start or _word_edge(haystack, at - 1)) and (
                    not check_end or _word_edge(haystack, stop)):
                spans.append((letter, at, stop))
            at = haystack.find(needle, at + 1)
    return spans


def _only(letters: Iterable[str]) -> str | None:
    found = set(letters)
    return found.pop() if len(found) == 1 else None


def _stated(text: str, valid: set[str]) -> str | None:
    found = None
    for match in _STATED.finditer(text):
        letter = match.group(1)
        # a lower-case letter followed by a word is a word ("answer is a dog"), not a choice
        word = letter.islower() and _next_word(text, match.end()) is not None
        # after "option"/"choice" an "A" is always the letter
        named = any(w in match.group(0).lower() for w in ("option", "choice", "选"))
        article = not named and _is_article(text, match.end(), letter)
        if letter.upper() in valid and not word and not article:
            found = letter.upper()
    return found


def _by_text(spans: list[tuple[str, int, int]], options: Options) -> str | None:
    texts = {letter: _norm(text) for letter, text in options}
    hits = {letter for letter, _, _ in spans}
    kept = [a for a in hits if not any(b != a and texts[a] in texts[b] for b in hits)]
    return kept[0] if len(kept) == 1 else None


def extract_choice(answer: str, options: Options) -> str | None:
    """The option letter the answer picks, or None when the rules cannot tell."""
    valid = {letter for letter, _ in options}
    text = unicodedata.normalize("NFKC", answer).strip()
    if not text:
        return None
    collapsed = _collapse(text)
    whole = collapsed.lower()
    exact = _only(letter for letter, option in options if _norm(option) == whole)
    if exact is not None:
        return exact
    bare = _BARE.fullmatch(text)
    if bare:
        letter = bare.group(1).upper()
        return letter if letter in valid else None
    # letters inside quoted option texts ("Solution A") are not choices: mask them out
    spans = _text_spans(collapsed, options)
    masked = list(collapsed)
    for _, start, end in spans:
        masked[start:end] = " " * (end - start)
    plain = "".join(masked)
    stated = _stated(plain, valid)
    if stated is not None:
        return stated
    lead = _LEADING.match(text)
    if lead and lead.group(1) in valid:
        return lead.group(1)
    lone = _only(m.group(1) for m in _LONE.finditer(plain)
                 if m.group(1) in valid and not _is_article(plain, m.end(), m.group(1)))
    if lone is not None:
        return lone
    return _by_text(spans, options)


def rotations(options: Options, answer: str | None) -> list[tuple[list[tuple[str, str]],
                                                                   str | None]]:
    """CircularEval passes 1..N-1 of a question: option texts shifted by one place per pass
    (pass p puts option p+i under letter i), each with its own answer letter."""
    letters = [letter for letter, _ in options]
    texts = [text for _, text in options]
    n = len(options)
    out = []
    for shift in range(1, n):
        moved = [(letters[i], texts[(i + shift) % n]) for i in range(n)]
        new_answer = None
        if answer is not None and answer in letters:
            new_answer = letters[(letters.index(answer) - shift) % n]
        out.append((moved, new_answer))
    return out


def circular_outcomes(rows: Iterable[tuple[int, bool]]) -> dict[int, bool]:
    """Per question group: right only when every one of its passes is right."""
    groups: dict[int, bool] = {}
    for group, right in rows:
        groups[group] = groups.get(group, True) and right
    return groups
