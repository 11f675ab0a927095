"""Whether a stored object can answer what a question asks for, where the question says so.

The scope classifier reads "Honda CB750 was founded in the year" as close to the edit "Honda
CB750 is created by -> BMW" (the same subject, a creation frame), and the counterfactual model
then answers "BMW" for a year. Some questions name the kind of answer they want in so many words:
a year, a date, a count, an age. Such a question is in the scope of an edit only when the edit's
object is of that kind, a number or something written with one. Questions whose words name no
kind are left to the classifier: this check refuses claims, it never makes one.

"When" is deliberately not a cue: "When did X live?" is answered by "the Middle Ages" as well as
by "1150", and refusing an edit that says so would lose a rephrasing the classifier got right.
"""
from __future__ import annotations

import re

_ASKS_FOR_NUMBER = re.compile(
    r"\b(?:(?:what|which) year|in the year|(?:what|which) date|date of|how many|how old)\b",
    re.IGNORECASE)
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion dozen".split())


def asks_for_number(question: str) -> bool:
    """Whether the question's words ask for a year, a date, a count or an age."""
    return _ASKS_FOR_NUMBER.search(question) is not None


def is_numeric(text: str) -> bool:
    """Whether `text` states a number: a digit anywhere ("1998", "May 5", "3rd") or a number word.

    Generous on purpose ("BBC One" passes): a false yes leaves the decision to the classifier, as
    before this check existed; only a false no could refuse an edit that does answer."""
    if any(ch.isdigit() for ch in text):
        return True
    return any(word in _NUMBER_WORDS for word in re.findall(r"[a-z]+", text.lower()))


def can_answer(question: str, answer: str) -> bool:
    """False only when the question asks for a number and `answer` states none."""
    return not asks_for_number(question) or is_numeric(answer)


__all__ = ["asks_for_number", "can_answer", "is_numeric"]
