"""Choice extraction rules of LLaVA-1.5's evaluation scripts (registered in
``families.multiple_choice.EXTRACTORS``). Each reads the response as LLaVA's answer files hold
it (``outputs.strip()``: surrounding white space removed, nothing else, no case folding) and
returns an option letter, or None (wrong, and counted; never a random letter).

- ``llava_sqa`` (LLaVA's ``eval_science_qa.py``): the whole response is one of the letters
  A-E; else it starts with a letter A-E followed by ``". "``; else the pattern
  ``The answer is ([A-Z]).`` (the final ``.`` is any character, so a letter at the very end
  of the text does not match) occurs exactly once. A letter beyond the problem's options is
  wrong (``get_pred_idx`` gives -1), and so is everything else ("FAILED"): the
  ``random.choice`` after ``return -1`` there is never reached.
- ``exact_letter`` (LLaVA's ``convert_seed_for_submission.py``, SEED-Bench): the response
  must equal the answer letter; anything else is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Options = Sequence[tuple[str, str]]

SQA_LETTERS = ("A", "B", "C", "D", "E")  # eval_science_qa.py's --options default
_SQA_STATED = re.compile(r"The answer is ([A-Z]).")


def _if_offered(letter: str, options: Options) -> str | None:
    """The letter when the problem offers it (get_pred_idx: options[:len(choices)])."""
    return letter if letter in SQA_LETTERS[:len(options)] else None


def extract_llava_sqa(answer: str, options: Options) -> str | None:
    """The option letter by LLaVA's ScienceQA rule, or None."""
    answer = answer.strip()
    if answer in SQA_LETTERS:
        return _if_offered(answer, options)
    if len(answer) >= 3 and answer[0] in SQA_LETTERS and answer[1:3] == ". ":
        return _if_offered(answer[0], options)
    found = _SQA_STATED.findall(answer)
    return _if_offered(found[0], options) if len(found) == 1 else None


def extract_exact_letter(answer: str, options: Options) -> str | None:
    """The response itself when it is exactly one of the option letters, else None."""
    answer = answer.strip()
    return answer if answer in {letter for letter, _ in options} else None
