"""Answer normalisation of the official VQA evaluation, as plain functions.

The rules (and their quirks) follow the official ``vqaEval.py`` of GT-Vision-Lab/VQA and the EvalAI
answer processor used by TextVQA/m4c.  Every function is pure; callers memoise the results.
"""

from __future__ import annotations

import re
from typing import Final

#: Contraction restoration applied word by word after lower-casing.  Kept exactly as the official
#: table, including entries that can never fire (capitalised keys such as ``"Im"``, because words
#: are lower-cased first) and the reversed ``"somebody'd" -> "somebodyd"``.
CONTRACTIONS: Final[dict[str, str]] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all",
    "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip

#: Number words (and "none") mapped to digits; only whole words, only zero..ten.
NUMBER_WORDS: Final[dict[str, str]] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip

ARTICLES: Final[frozenset[str]] = frozenset({"a", "an", "the"})

#: Characters removed (next to a space, or when the text contains digit,digit) or replaced by a
#: space (otherwise).  The period is handled separately by ``PERIOD_STRIP``.
PUNCTUATION: Final[tuple[str, ...]] = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
)  # fmt: skip

#: "digit,digit" anywhere in the text switches every punctuation character to deletion.
COMMA_STRIP: Final[re.Pattern[str]] = re.compile(r"(\d)(,)(\d)")

#: The official pattern.  ``(?!<=\d)`` was meant as a look-behind but is a look-ahead for the
#: literal "<=" and a digit, which can never match at a period: in effect ``\.(?!\d)``, i.e. a
#: period is removed unless a digit follows ("3.5." -> "3.5", "1.a" -> "1a").
PERIOD_STRIP: Final[re.Pattern[str]] = re.compile(r"(?!<=\d)(\.)(?!\d)")

#: The official code calls ``periodStrip.sub("", text, re.UNICODE)``: the flag lands in the
#: positional *count* argument, so at most ``int(re.UNICODE) == 32`` periods are removed.
PERIOD_STRIP_COUNT: Final[int] = int(re.UNICODE)

_PUNCT_CHARS: Final[frozenset[str]] = frozenset(PUNCTUATION) | {"."}


def process_punctuation(text: str) -> str:
    """Apply the official punctuation step (``processPunctuation``).

    Whether a character is deleted or replaced by a space is decided on the *input* text: deleted
    when it appears next to a space or when the text contains digit,digit anywhere.
    """
    if _PUNCT_CHARS.isdisjoint(text):
        return text
    delete_all = COMMA_STRIP.search(text) is not None
    out = text
    for p in PUNCTUATION:
        if p not in out:
            continue
        if delete_all or (p + " ") in text or (" " + p) in text:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """Apply the official digit/article step (``processDigitArticle``).

    Lower-case, split on whitespace, map number words to digits, drop articles, restore
    contractions, join with single spaces.
    """
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def clean_whitespace(text: str) -> str:
    """Replace newlines and tabs by spaces and strip both ends (first step of every scorer)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_answer(text: str) -> str:
    """Whitespace clean-up, then the punctuation and digit/article steps."""
    return process_digit_article(process_punctuation(clean_whitespace(text)))


def evalai_word_tokenize(text: str) -> str:
    """EvalAI ``word_tokenize``: lower-case, delete "," and "?", split "'s" off, strip."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's")
    return text.strip()


def evalai_normalize(text: str) -> str:
    """The whole EvalAI answer processor (TextVQA/m4c): tokenize, clean, punctuation, digits."""
    return process_digit_article(process_punctuation(clean_whitespace(evalai_word_tokenize(text))))
