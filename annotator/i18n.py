"""The pure modules' messages (``annotator.messages``) in the interface's language."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext

from .messages import Message, on_one_line


def translated(text: str) -> str:
    """A ``Message`` in the request's language; any other text as it is."""
    if isinstance(text, Message):
        return gettext(text.template, **text.values)
    return text


def translated_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """A map of variable ids (or ``""``) to messages, the messages translated."""
    return {key: translated(message) for key, message in errors.items()}


def translated_problems(errors: Mapping[str, str]) -> str:
    """The messages on one line, each after its variable id, as ``LabelError`` says them."""
    return on_one_line(errors, translated)
