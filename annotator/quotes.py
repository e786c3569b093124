"""Find a quoted passage in a page's text, tolerating whitespace differences.

A passage copied from the PDF text layer seldom has the page text's own line breaks and
spaces (pdf.js joins and splits runs differently from the extractor), so a quote that is not
found as it is gets matched again with whitespace ignored, and the page's own substring is
what is stored.
"""

from __future__ import annotations

import re


def locate(text: str, quote: str) -> tuple[int, str] | None:
    """Where ``quote`` is in ``text`` and the text's own substring there, or None.

    The exact quote (stripped) is preferred; failing that, the first place where the
    quote's non-space characters appear in order with only whitespace between them.
    """
    quote = quote.strip()
    if not quote:
        return None
    start = text.find(quote)
    if start >= 0:
        return start, quote
    characters = [c for c in quote if not c.isspace()]
    pattern = r"\s*".join(re.escape(c) for c in characters)
    match = re.search(pattern, text)
    if match is None:
        return None
    return match.start(), match.group(0)
