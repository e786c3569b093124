"""``annotator.messages.Message``: English text that keeps what a translation needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from annotator.codebook import LocalizedText, Variable, VariableType
from annotator.messages import Message


@pytest.mark.parametrize(
    ("template", "values", "text"),
    [
        ("the quote is empty", {}, "the quote is empty"),
        ("the document has no page %(page)s", {"page": 3}, "the document has no page 3"),
        (
            "%(number)s is below the minimum of %(minimum)s",
            {"number": 1.5, "minimum": 2},
            "1.5 is below the minimum of 2",
        ),
        ("100% sure", {}, "100% sure"),  # no values: the template is the text, % and all
        ("%(text)s is not a number", {"text": "'%(x)s'"}, "'%(x)s' is not a number"),
    ],
)
def test_a_message_is_its_english_text_and_keeps_its_parts(
    template: str, values: dict[str, Any], text: str
) -> None:
    message = Message(template, **values)
    assert message == text
    assert isinstance(message, str) and str(message) == text
    assert (message.template, message.values) == (template, values)
    assert json.loads(json.dumps({"error": message})) == {"error": text}


@pytest.mark.parametrize(
    ("value", "template", "values"),
    [
        (3000, "%(number)s is above the maximum of %(maximum)s", {"number": 3000, "maximum": 2035}),
        (2000, "%(number)s is below the minimum of %(minimum)s", {"number": 2000, "minimum": 2011}),
        ("soon", "%(text)s is not a number", {"text": "'soon'"}),
        (True, "expected a number, got %(value)s", {"value": "True (true/false)"}),
    ],
)
def test_the_codebooks_refusals_are_messages(
    value: object, template: str, values: dict[str, Any]
) -> None:
    year = Variable(
        "year", LocalizedText("Year"), None, VariableType.NUMBER, minimum=2011, maximum=2035
    )
    problem = year.check_value(value)
    assert isinstance(problem, Message)
    assert (problem.template, problem.values) == (template, values)
