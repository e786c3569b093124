"""The languages of the interface, and which of them a browser's language tags ask for.

English is the language of the source; Simplified Chinese is translated in
``translations/zh_Hans/LC_MESSAGES/messages.po``. The web layer (``auth.select_locale``)
picks a request's language: the person's stored choice, else one made before logging in,
else the browser's ``Accept-Language``, else English. This module holds the pure part.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# Every supported locale (Babel's identifier) with its name in its own language, which is
# how a language switch shows it: a reader who cannot read the current one still finds theirs.
LOCALES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT_LOCALE = "en"

TRANSLATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")

# Chinese of these regions is written in Traditional characters: a browser asking for zh-TW
# would rather read English than Simplified Chinese it did not ask for.
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


def locale_for_tag(tag: str) -> str | None:
    """The supported locale a language tag asks for (``zh-CN`` is ``zh_Hans``), or None."""
    language, *rest = tag.strip().lower().replace("_", "-").split("-")
    if language != "zh":
        return language if language in LOCALES else None
    # Chinese: the script decides (zh-Hans, zh-Hant), else the region; a bare zh is Simplified.
    if "hant" in rest or (
        "hans" not in rest and any(subtag in _TRADITIONAL_REGIONS for subtag in rest)
    ):
        return None
    return "zh_Hans"


def best_locale(accepted: Iterable[tuple[str, float]]) -> str | None:
    """The supported locale of the best-rated tag that has one, from (tag, quality) pairs."""
    # sorted() is stable: of tags rated alike, the one the browser listed first wins.
    for tag, quality in sorted(accepted, key=lambda item: item[1], reverse=True):
        locale = locale_for_tag(tag) if quality > 0 else None
        if locale is not None:
            return locale
    return None


def html_lang(locale: str) -> str:
    """The BCP 47 tag of a locale, for ``<html lang>``: ``zh_Hans`` is ``zh-Hans``."""
    return locale.replace("_", "-")
