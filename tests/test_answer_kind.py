"""Which questions name the kind of answer they want, and which objects are of that kind."""
from __future__ import annotations

import pytest

from kme_server.editing.answer_kind import asks_for_number, can_answer, is_numeric


@pytest.mark.parametrize("question", [
    "Honda CB750 was founded in the year", "In what year was Honda founded?", "Which year did it open?",
    "What is the date of birth of Ada Lovelace?", "How many moons does Mars have?", "How old is the bridge?",
])
def test_questions_that_ask_for_a_number(question: str) -> None:
    assert asks_for_number(question)


@pytest.mark.parametrize("question", [
    "Honda CB750 is created by", "When did Ada Lovelace live?",  # an era answers "when" as well
    "The Year of the Dragon was written by", "Who won Album of the Year?", "Honda was founded in",
    "How did the bridge fall?",
])
def test_questions_that_name_no_kind(question: str) -> None:
    assert not asks_for_number(question)


@pytest.mark.parametrize(("text", "numeric"), [
    ("1998", True), ("May 5", True), ("the 3rd century", True), ("two", True), ("Twenty-one", True),
    ("BMW", False), ("Hungary", False), ("the Middle Ages", False), ("", False), ("someone", False),
])
def test_numeric_objects(text: str, numeric: bool) -> None:
    assert is_numeric(text) is numeric


def test_only_a_number_question_with_a_non_number_answer_is_refused() -> None:
    assert not can_answer("Honda CB750 was founded in the year", "BMW")
    assert can_answer("Honda CB750 was founded in the year", "1969")
    assert can_answer("Honda CB750 is created by", "BMW")
    assert can_answer("Honda CB750 is created by", "1969")  # no kind named: the classifier decides
