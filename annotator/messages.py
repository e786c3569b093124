"""Messages of the modules that import no Flask, ready to be translated by those that do.

The codebook and the services cannot translate: they know nothing of the request or its
language. What they say to a person (a value refused, a quote not found) is a ``Message``:
the English text, a ``str`` as before for logs, the command line and tests, which also keeps
its template and values, so that a page can show it in the interface's language
(``annotator.i18n.translated``). ``pybabel extract`` collects the templates: ``Message`` is
one of its keywords (scripts/update-translations.sh).

    >>> message = Message("%(number)s is above the maximum of %(maximum)s", number=12, maximum=10)
    >>> message
    '12 is above the maximum of 10'
    >>> message.template, message.values
    ('%(number)s is above the maximum of %(maximum)s', {'number': 12, 'maximum': 10})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Message(str):
    """English text that keeps its template and values for a translation."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Message:
        message = super().__new__(cls, template % values if values else template)
        message.template = template
        message.values = values
        return message


def on_one_line(errors: Mapping[str, str], say: Callable[[str], str] = str) -> str:
    """Messages keyed by what they are about (``""``: the whole) on one line, each said by
    ``say`` (a translation, in the web layer)."""
    return "; ".join(f"{key}: {say(text)}" if key else say(text) for key, text in errors.items())
