"""Turn the stored original of an HTML or Markdown document into safe HTML for reading.

A pure module, like :mod:`annotator.extraction`: bytes in, a string of HTML out, no Flask.
The original is decoded by the same rules as at import (:func:`extraction.decode_text`), so
the page shows the text that was extracted, and evidence quotes selected in it are found in
the stored text.

The output is an allow-list, enforced by nh3 (the Rust sanitiser ammonia, which parses like a
browser, so mis-nested and unclosed markup cannot smuggle anything through):

* Structural and text tags only. Scripts, styles, frames, objects, forms' controls, SVG and
  MathML go, and so do ``<mark>`` (the coding page highlights evidence with ``mark``
  elements) and ``<details>`` (the page folds its own sections with it).
* No ``class``, ``id`` or ``style`` attributes (they would collide with the page's own
  classes, ids and styles), no event handlers, no attribute that loads anything.
* Images are dropped, alt text included. Nothing may load from another site, and the page's
  CSP would block it anyway; an ``[alt text]`` in their place would put words on the page
  that are not in the extracted text, so a passage selected across it could not become
  evidence. The original file is one click away for the pictures.
* Links keep only ``http``, ``https`` and ``mailto`` targets, open in a new tab and carry
  ``rel="noopener noreferrer nofollow"``; relative links (to the site the page came from,
  which this site is not) lose their target but keep their text.
* Markdown is rendered by markdown-it (CommonMark with tables and strikethrough); HTML
  inside it is kept and goes through the same sanitiser.

Sanitising the output again changes nothing, so a stored or cached rendering can be
checked by running it through :func:`sanitize_html` once more.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import nh3
from markdown_it import MarkdownIt

from .extraction import (
    DEFAULT_LIMITS,
    HTML_DROPPED_CONTENT,
    DocumentFormat,
    check_html_depth,
    decode_text,
)

ALLOWED_TAGS = frozenset(
    {
        # blocks
        "address", "article", "aside", "blockquote", "div", "figcaption", "figure", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "main", "nav", "p",
        "pre", "section",
        # lists and tables
        "dd", "dl", "dt", "li", "ol", "ul",
        "caption", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        # text
        "a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "del", "dfn", "em", "i", "ins",
        "kbd", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub", "sup",
        "time", "u", "var", "wbr",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_LINK = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)
# What browsers strip from both ends of a URL before reading its scheme.
_URL_EDGES = "".join(chr(code) for code in range(0x21))
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_WHOLE_NUMBER = {"colspan": re.compile(r"[0-9]{1,4}"), "rowspan": re.compile(r"[0-9]{1,4}")}
_WHOLE_NUMBER["start"] = re.compile(r"-?[0-9]{1,9}")
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """Keep an allowed attribute's value only when it is of the expected form."""
    if name == "href":
        url = value.strip(_URL_EDGES)
        return url if _LINK.match(url) else None
    if name in _WHOLE_NUMBER:
        value = value.strip()
        return value if _WHOLE_NUMBER[name].fullmatch(value) else None
    if name == "lang":
        return value if _LANGUAGE_TAG.fullmatch(value) else None
    if name == "dir":
        value = value.strip().lower()
        return value if value in {"ltr", "rtl", "auto"} else None
    # title and reversed are plain text; target and rel are the ones set on every link.
    return value


def sanitize_html(source: str) -> str:
    """Reduce any HTML (a fragment or a whole page) to the allow-listed tags and attributes."""
    # One pass is not always a fixed point: when the filter removes an attribute of a link,
    # ammonia moves the rel it adds before the target, and the next pass puts it back after.
    # The second pass settles the order, so sanitising the output again changes nothing.
    return _clean(_clean(source)).strip()


def _clean(source: str) -> str:
    return nh3.clean(
        source,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(HTML_DROPPED_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(LINK_SCHEMES),
    )


def markdown_html(source: str) -> str:
    """Markdown rendered to HTML, then sanitised like any HTML page."""
    return sanitize_html(_MARKDOWN.render(source))


def document_html(data: bytes, document_format: DocumentFormat) -> str:
    """Safe HTML for the original bytes of an HTML or Markdown document.

    Raises ``RefusedFile`` when the bytes do not decode as text, and ``ValueError`` for a
    format that has no HTML rendering (PDF and plain text).
    """
    if document_format not in (DocumentFormat.HTML, DocumentFormat.MARKDOWN):
        raise ValueError(f"{document_format.value} documents have no HTML rendering")
    source = decode_text(data)[0]
    # The import refuses such files; this guards the ones stored before it did, whose
    # parsing would hold a worker for minutes on every page view.
    check_html_depth(source, DEFAULT_LIMITS.max_html_depth)
    if document_format is DocumentFormat.HTML:
        return sanitize_html(source)
    return markdown_html(source)


# Sanitising a long page costs milliseconds; the coding page must not pay them on every load.
# Stored originals are content-addressed, so a rendering never goes stale: the cache only
# needs a bound, on the total size of the renderings it holds.
_CACHE_BUDGET_CHARS = 32 * 2**20
_cache: OrderedDict[tuple[str, DocumentFormat], str] = OrderedDict()
_cache_chars = 0
_cache_lock = threading.Lock()


def stored_document_html(
    path: str | os.PathLike[str], sha256: str, document_format: DocumentFormat
) -> str:
    """:func:`document_html` of the stored file whose content has this SHA-256, cached.

    The cache is per process and keyed by the hash, so ``path`` must be the content-addressed
    file of that hash. Raises ``OSError`` when the file cannot be read, and what
    :func:`document_html` raises.
    """
    global _cache_chars
    key = (sha256, document_format)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    rendered = document_html(Path(path).read_bytes(), document_format)
    with _cache_lock:
        if key not in _cache and len(rendered) <= _CACHE_BUDGET_CHARS:
            _cache[key] = rendered
            _cache_chars += len(rendered)
            while _cache_chars > _CACHE_BUDGET_CHARS:
                _, evicted = _cache.popitem(last=False)
                _cache_chars -= len(evicted)
    return rendered


def clear_cache() -> None:
    """Forget every cached rendering (for tests)."""
    global _cache_chars
    with _cache_lock:
        _cache.clear()
        _cache_chars = 0
