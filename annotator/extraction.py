"""Turn an uploaded file into plain text, page by page, or refuse it with a reason.

A pure module: plain paths in, plain values out, no Flask and no database. Coders quote
evidence by character offsets into :attr:`ExtractedDocument.full_text`, so extraction must be
deterministic: the same bytes always give the same text and the same offsets.

Formats are recognised by content first and by file name second: a PDF renamed ``.txt`` is
still read as a PDF, and a ``.pdf`` that holds a saved web page is refused with a reason a
research assistant can act on. Every problem with the input itself is reported as
:class:`RefusedFile`; anything else escaping :func:`extract` is a bug.

Decisions worth knowing:

* Encrypted PDFs that need a password to open are refused. PDFs protected by an owner
  password only (no copying, no printing) open without one and are imported: the text is
  readable by any viewer, and the study needs it.
* PDFs without a text layer (scanned images) are imported with empty pages, so that the
  importer can flag them ("no text: scanned?") instead of losing them.
* Text files are decoded as UTF-8 (with or without a byte order mark), UTF-16 with a byte
  order mark, the charset an HTML page declares, or GB18030 as a last resort, which covers
  the GBK and GB2312 files that Chinese Windows software still writes. The encoding used is
  kept in :attr:`ExtractedDocument.encoding`.
"""

from __future__ import annotations

import bisect
import codecs
import enum
import hashlib
import html
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import nh3
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from markdown_it import MarkdownIt

from .messages import Message

PAGE_SEPARATOR = "\n\f\n"
SUPPORTED_SUFFIXES = frozenset({".pdf", ".txt", ".html", ".htm", ".md", ".markdown"})

# PDF readers, PDFium included, accept the header anywhere in the first 1024 bytes; some
# generators put a byte order mark or an HTTP header there first.
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
# Enough to find the PDF header and an HTML <meta charset>, and to judge the text encoding.
_HEAD_BYTES = 8192
_MEGABYTE = 2**20
_MAX_TITLE_CHARS = 300

# Files often mistaken for text: a Word document saved with the wrong name is a common case.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive, such as a Word .docx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file, such as a Word .doc"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
)

# C0 and C1 control characters except tab, newline and form feed (the page break of plain
# text), plus the two non-characters PDFium sometimes emits for unmapped glyphs.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_NEWLINES = re.compile(r"\r\n?")

# PDF metadata that generators fill in when the author gave no title.
_PLACEHOLDER_TITLES = frozenset({"untitled", "anonymous", "unspecified", "title", "no title"})

# PDFium is not thread-safe; a web server handling two uploads at once in two threads would
# otherwise crash the whole process.
_PDFIUM_LOCK = threading.Lock()

_PDFIUM_ERRORS = {
    pdfium_c.FPDF_ERR_UNKNOWN: "unknown error",
    pdfium_c.FPDF_ERR_FILE: "file access error",
    pdfium_c.FPDF_ERR_FORMAT: "data format error (not a readable PDF structure)",
    pdfium_c.FPDF_ERR_PAGE: "page not found or content error",
}

# Tags whose boundaries become line breaks in the text of an HTML page; everything else is
# stripped to its text, except the tags below whose content is no reading matter at all.
_HTML_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "center", "dd",
        "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer",
        "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
# Shared with annotator.sanitize, so that the rendered page shows the text that was extracted.
HTML_DROPPED_CONTENT = frozenset(
    {"script", "style", "title", "noscript", "template", "iframe", "object", "svg", "math"}
)
_HTML_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
_HTML_BREAK = re.compile(r"<br\s*/?>|<(li|tr|dt|dd)>")
_HTML_CELL = re.compile(r"</?t[dh]>|</(li|tr|dt|dd)>")
# CSS Text 3 drops a source line break between two Chinese characters instead of showing a
# space, as a Chinese reader expects: "服务。\n市民" reads "服务。市民".
_HTML_CJK_LINE_BREAK = re.compile(
    r"(?<=[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef])[ \t]*[\r\n]+[ \t]*"
    r"(?=[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef])"
)
_HTML_ANY_TAG = re.compile(r"</?[a-z0-9]+\s*/?>")
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_HTML_DOCUMENT_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)\b", re.I | re.S)
_BLANK_LINES = re.compile(r"\n{3,}")
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")
_MARKDOWN = MarkdownIt("commonmark")


class DocumentFormat(enum.StrEnum):
    """The formats the annotator can read."""

    PDF = "pdf"
    HTML = "html"
    TEXT = "text"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class ExtractedPage:
    """One page of text: ``number`` is 1-based, ``start`` its offset in the full text."""

    number: int
    text: str
    start: int

    @property
    def end(self) -> int:
        """Offset just past this page's last character in the full text."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class ExtractedDocument:
    """The text of a document, page by page, with what identifies the file it came from."""

    format: DocumentFormat
    pages: tuple[ExtractedPage, ...]
    title: str | None
    sha256: str
    size: int
    # The text encoding that decoded the file ("utf-8", "gb18030", ...); None for PDFs.
    encoding: str | None = None

    def __post_init__(self) -> None:
        # Evidence offsets are stored in the database; a document whose page offsets did not
        # match full_text would attach quotes to the wrong words, so refuse to build one.
        start = 0
        for number, page in enumerate(self.pages, start=1):
            if page.number != number or page.start != start:
                raise ValueError(f"page {number} does not line up with the full text")
            start = page.end + len(PAGE_SEPARATOR)

    @property
    def has_text(self) -> bool:
        """Whether any page holds more than whitespace (False for a scanned PDF)."""
        return any(page.text.strip() for page in self.pages)

    @cached_property
    def full_text(self) -> str:
        """All pages joined with ``PAGE_SEPARATOR``; page offsets point into this string."""
        return PAGE_SEPARATOR.join(page.text for page in self.pages)

    @property
    def page_count(self) -> int:
        """The number of pages."""
        return len(self.pages)

    def page_at(self, offset: int) -> ExtractedPage:
        """The page holding the character at ``offset`` in the full text.

        An offset inside a page separator belongs to the page before it.
        """
        if not 0 <= offset <= len(self.full_text) or not self.pages:
            raise IndexError(f"offset {offset} is outside the text")
        starts = [page.start for page in self.pages]
        return self.pages[bisect.bisect_right(starts, offset) - 1]


class RefusedFile(Exception):
    """The file cannot be imported; ``reason`` says why in a sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 hex digest of a file, read in chunks so large files need little memory."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def detect_format(path: Path, head: bytes) -> DocumentFormat:
    """The format of a file from its first bytes and its name; raise ``RefusedFile`` if unusable.

    Content wins over the name: a PDF header makes a PDF whatever the extension. Otherwise the
    extension decides, and the head must decode as text.
    """
    suffix = path.suffix.lower()
    if _PDF_MAGIC in head[:_PDF_HEADER_WINDOW]:
        return DocumentFormat.PDF
    if suffix == ".pdf":
        raise RefusedFile(
            Message(
                "not a PDF (the file starts with %(start)s despite the .pdf extension)",
                start=_preview(head),
            )
        )
    if suffix not in SUPPORTED_SUFFIXES:
        raise RefusedFile(
            Message("unsupported file type '%(suffix)s'", suffix=suffix)
            if suffix
            else Message("unsupported file type (no extension)")
        )
    for signature, description in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise RefusedFile(
                Message(
                    "not text (the file is %(kind)s despite the %(suffix)s extension)",
                    kind=description,
                    suffix=suffix,
                )
            )
    _decode(head, final=False)
    if suffix in {".html", ".htm"}:
        return DocumentFormat.HTML
    if suffix in {".md", ".markdown"}:
        return DocumentFormat.MARKDOWN
    # A web page saved as .txt would otherwise show its markup to the coder.
    if _HTML_DOCUMENT_START.match(head.removeprefix(codecs.BOM_UTF8)):
        return DocumentFormat.HTML
    return DocumentFormat.TEXT


@dataclass(frozen=True)
class ExtractionLimits:
    """What a file may cost to read, beyond its size: a small file can still be a bomb.

    A PDF compresses its page contents, so a file of a few hundred kilobytes can hold
    millions of characters, or of drawing objects that take PDFium minutes to lay out; and a
    browser's HTML parser (nh3's, which renders HTML documents) slows down quadratically with
    the depth of nested elements. The limits are far above real documents: a dense page
    holds a few thousand characters and objects, and web pages nest a few dozen levels.
    """

    max_text_chars: int = 20_000_000
    max_page_objects: int = 100_000
    max_seconds: float = 120.0
    max_html_depth: int = 1_000


DEFAULT_LIMITS = ExtractionLimits()


def extract(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = 50 * _MEGABYTE,
    max_pages: int = 2000,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> ExtractedDocument:
    """Read a PDF, HTML, Markdown or text file into pages of text.

    Raises ``RefusedFile`` with a reason for every file that cannot be imported: empty, too
    large, unsupported, not what its name says, encrypted, corrupt, with too many pages, or
    too costly to read (``limits``).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise RefusedFile(Message("empty file"))
        if size > max_bytes:
            raise RefusedFile(_over_limit(size, max_bytes))
        with path.open("rb") as file:
            # One read serves both the hash and the parse, so the recorded sha256 is that of
            # the very bytes the text came from.
            data = file.read(max_bytes + 1)
    except OSError as error:
        raise RefusedFile(
            Message("cannot read the file (%(problem)s)", problem=error.strerror or str(error))
        ) from None
    if not data:
        raise RefusedFile(Message("empty file"))
    if len(data) > max_bytes:  # the file grew after stat()
        raise RefusedFile(_over_limit(len(data), max_bytes))

    document_format = detect_format(path, data[:_HEAD_BYTES])
    encoding: str | None = None
    if document_format is DocumentFormat.PDF:
        texts, title = _pdf_pages(data, max_pages, limits)
    else:
        source, encoding = decode_text(data)
        if document_format in (DocumentFormat.HTML, DocumentFormat.MARKDOWN):
            # Markdown may hold raw HTML, which is rendered through the same parser.
            check_html_depth(source, limits.max_html_depth)
        if document_format is DocumentFormat.HTML:
            texts, title = [_html_text(source)], _html_title(source)
        elif document_format is DocumentFormat.MARKDOWN:
            texts, title = [source], _markdown_title(source)
        else:
            texts, title = _text_pages(source), None
        if len(texts) > max_pages:
            raise RefusedFile(
                Message("too many pages (%(pages)s > %(limit)s)", pages=len(texts), limit=max_pages)
            )
    if sum(len(text) for text in texts) > limits.max_text_chars:
        raise RefusedFile(_too_much_text(limits.max_text_chars))
    return ExtractedDocument(
        format=document_format,
        pages=_paginate(texts),
        title=title,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        encoding=encoding,
    )


def _paginate(texts: list[str]) -> tuple[ExtractedPage, ...]:
    pages = []
    start = 0
    for number, text in enumerate(texts, start=1):
        pages.append(ExtractedPage(number=number, text=text, start=start))
        start += len(text) + len(PAGE_SEPARATOR)
    return tuple(pages)


def _too_much_text(limit: int) -> Message:
    return Message(
        "too much text (more than %(limit)s characters): is it really one document?",
        limit=f"{limit:,}",
    )


# Elements a parser closes by itself, or that have no content: they add no depth.
_HTML_SHALLOW_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td",
        "th", "thead", "tbody", "tfoot", "rb", "rt", "rp", "colgroup", "caption",
    }
)  # fmt: skip
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)[^<>]*?(/?)>")
_HTML_FOREIGN = frozenset({"svg", "math"})


def html_nesting_depth(source: str) -> int:
    """An estimate of the deepest nesting of elements in HTML (tags opened and not closed).

    Fast and simple rather than exact: it counts start tags against end tags, leaving out
    empty elements and those a parser closes by itself. ``<div/>`` opens a ``div`` in HTML,
    as browsers read it; only inside SVG and MathML does ``/>`` close an element.
    """
    depth = deepest = 0
    foreign_at: int | None = None  # the depth at which an <svg> or <math> opened
    for match in _HTML_TAG.finditer(source):
        closing, name, self_closing = match.groups()
        name = name.lower()
        if name in _HTML_SHALLOW_TAGS or (self_closing and foreign_at is not None):
            continue
        if closing:
            depth = max(0, depth - 1)
            if foreign_at is not None and depth <= foreign_at:
                foreign_at = None
        else:
            if name in _HTML_FOREIGN and foreign_at is None and not self_closing:
                foreign_at = depth
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def check_html_depth(source: str, limit: int) -> None:
    """Refuse HTML nested deeper than ``limit``: its parsing would take minutes, not a moment."""
    depth = html_nesting_depth(source)
    if depth > limit:
        raise RefusedFile(
            Message(
                "HTML nested too deep (%(depth)s levels of elements > %(limit)s): "
                "not a web page a person could read",
                depth=f"{depth:,}",
                limit=f"{limit:,}",
            )
        )


def _over_limit(size: int, max_bytes: int) -> Message:
    return Message(
        "over the size limit (%(size)s > %(limit)s)",
        size=_human_size(size),
        limit=_human_size(max_bytes),
    )


def _human_size(size: int) -> str:
    if size >= _MEGABYTE:
        return f"{size / _MEGABYTE:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _preview(head: bytes) -> str:
    """A short quote of how a file starts, e.g. ``'<html>'``, for a refusal reason."""
    try:
        text, _ = _decode(head[:80], final=False)
    except RefusedFile:
        return "binary data"
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
        return "no PDF header"
    match = re.match(r"<[^<>]{0,30}>|\S{1,16}", text)
    snippet = match.group(0) if match else text[:16]
    # Keep control characters visible but harmless in a message shown in a page or a log.
    snippet = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in snippet
    )
    return f"'{snippet}'"


def _clean_text(text: str) -> str:
    """Unix newlines, and no control characters other than tab, newline and form feed."""
    return _CONTROL_CHARS.sub("", _NEWLINES.sub("\n", text))


# --- text encodings ---------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a whole text file, decoded and cleaned as for import, and the encoding used.

    Raises ``RefusedFile`` when no encoding fits or the text holds binary data.
    """
    text, encoding = _decode(data, final=True)
    return _clean_text(text), encoding


def _decode(data: bytes, *, final: bool) -> tuple[str, str]:
    """Decode text and name the encoding used; ``final=False`` accepts a cut-off last character.

    Raises ``RefusedFile`` when no encoding fits or the text holds binary data.
    """
    for encoding in _candidate_encodings(data):
        try:
            decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
            text = decoder.decode(data, final=final)
        except (ValueError, LookupError):  # UnicodeDecodeError is a ValueError
            continue
        if encoding == "gb18030" and not _looks_like_chinese(text):
            continue
        if "\x00" in text:
            raise RefusedFile(Message("not text (the file holds binary data)"))
        return text, encoding
    raise RefusedFile(Message("not valid UTF-8 text (nor GB18030 Chinese text)"))


def _candidate_encodings(data: bytes) -> list[str]:
    if data.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]  # Windows Notepad's "Unicode"; the decoder reads the byte order mark
    candidates = ["utf-8"]
    # Valid UTF-8 is strong evidence on its own, so a page's declared charset only comes
    # second: pages that say gb2312 but were re-saved as UTF-8 are common.
    declared = _HTML_CHARSET.search(data[:_HEAD_BYTES])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        codec = _text_codec(name)
        if codec in {"gb2312", "gbk", "gb18030"}:
            codec = "gb18030"  # a superset: pages labelled gb2312 routinely use GBK characters
        if codec and codec not in candidates:
            candidates.append(codec)
    if "gb18030" not in candidates:
        candidates.append("gb18030")
    return candidates


def _text_codec(label: str) -> str:
    """Python's name for a charset label from a web page, or "" if it names no usable one."""
    try:
        info = codecs.lookup(label)
    except LookupError:
        return ""
    # Python also knows bytes-to-bytes codecs (uu, base64, zlib) that a hostile page could
    # name; and browsers read a declared UTF-16 or UTF-32 without a byte order mark as UTF-8.
    if not getattr(info, "_is_text_encoding", True) or info.name.startswith(("utf-16", "utf-32")):
        return ""
    return info.name


def _looks_like_chinese(text: str) -> bool:
    """Whether GB18030-decoded text reads as Chinese rather than mojibake of another encoding.

    Almost every byte sequence is valid GB18030, so decoding alone proves little. Real
    simplified Chinese text stays almost entirely within the GB2312 repertoire, while Latin-1
    or Windows-1252 text misread as GB18030 lands in the rare GBK extension characters.
    """
    non_ascii = _ASCII_RUN.sub("", text)
    if not non_ascii:
        return True
    # Every GB2312 character encodes to two bytes; the others are dropped.
    common = len(non_ascii.encode("gb2312", errors="ignore")) // 2
    return common >= 0.8 * len(non_ascii)


# --- PDF -----------------------------------------------------------------------------------


def _pdf_pages(
    data: bytes, max_pages: int, limits: ExtractionLimits = DEFAULT_LIMITS
) -> tuple[list[str], str | None]:
    """The text of each page and the title of a PDF, closing every PDFium object promptly.

    The limits are checked page by page: a page's objects before its text is laid out, the
    text and the time so far after. PDFium cannot be stopped inside a page, so one page
    may overrun the time; the object limit bounds what one page can cost.
    """
    started = time.monotonic()
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            raise _pdf_refusal(error) from None
        try:
            page_count = len(pdf)
            if page_count > max_pages:
                raise RefusedFile(
                    Message(
                        "too many pages (%(pages)s > %(limit)s)", pages=page_count, limit=max_pages
                    )
                )
            title = _pdf_title(pdf)
            texts = []
            characters = 0
            for index in range(page_count):
                text = _clean_text(_pdf_page_text(pdf, index, limits))
                characters += len(text)
                if characters > limits.max_text_chars:
                    raise RefusedFile(_too_much_text(limits.max_text_chars))
                if time.monotonic() - started > limits.max_seconds:
                    raise RefusedFile(
                        Message(
                            "reading the text took too long (over %(limit)s s, at page "
                            "%(page)s of %(pages)s)",
                            limit=f"{limits.max_seconds:g}",
                            page=index + 1,
                            pages=page_count,
                        )
                    )
                texts.append(text)
        except pdfium.PdfiumError as error:
            raise RefusedFile(Message("corrupt PDF: %(problem)s", problem=str(error))) from None
        finally:
            # Closing explicitly instead of waiting for garbage collection keeps memory flat
            # over a batch import of hundreds of files.
            pdf.close()
    return texts, title


def _pdf_page_text(
    pdf: pdfium.PdfDocument, index: int, limits: ExtractionLimits = DEFAULT_LIMITS
) -> str:
    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        raise RefusedFile(
            Message("corrupt PDF: page %(page)s cannot be read", page=index + 1)
        ) from None
    try:
        objects = pdfium_c.FPDFPage_CountObjects(page.raw)
        if objects > limits.max_page_objects:
            raise RefusedFile(
                Message(
                    "page %(page)s is too complex to read (%(objects)s drawing objects > "
                    "%(limit)s)",
                    page=index + 1,
                    objects=f"{objects:,}",
                    limit=f"{limits.max_page_objects:,}",
                )
            )
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _pdf_refusal(error: pdfium.PdfiumError) -> RefusedFile:
    code = error.err_code
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return RefusedFile(Message("encrypted PDF (password protected)"))
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return RefusedFile(Message("encrypted PDF (unsupported security scheme)"))
    if code == pdfium_c.FPDF_ERR_SUCCESS:
        # PDFium loaded the file but reports no pages.
        return RefusedFile(Message("corrupt PDF: the document has no pages"))
    return RefusedFile(
        Message("corrupt PDF: %(problem)s", problem=_PDFIUM_ERRORS.get(code, str(error)))
    )


def _pdf_title(pdf: pdfium.PdfDocument) -> str | None:
    try:
        title = pdf.get_metadata_value("Title")
    except UnicodeDecodeError:
        # A damaged title (a lone UTF-16 surrogate) is no reason to lose the document's text.
        return None
    return _tidy_title(title)


def _tidy_title(title: str | None) -> str | None:
    if not title:
        return None
    title = " ".join(_clean_text(title).split())[:_MAX_TITLE_CHARS]
    if not title or title.lower() in _PLACEHOLDER_TITLES:
        return None
    return title


# --- HTML, Markdown and plain text -------------------------------------------------------


def _html_text(source: str) -> str:
    """The reading text of an HTML page: no markup, no scripts or styles, paragraphs kept."""
    # nh3 parses like a browser and serialises the kept tags without attributes, so the
    # patterns below only ever meet plain <name> and </name>; text '<' and '>' stay escaped.
    cleaned = nh3.clean(
        source,
        tags=set(_HTML_BLOCK_TAGS),
        attributes={},
        clean_content_tags=set(HTML_DROPPED_CONTENT),
        strip_comments=True,
        link_rel=None,
    )
    text = _HTML_WHITESPACE.sub(" ", _HTML_CJK_LINE_BREAK.sub("", cleaned))
    text = _HTML_BREAK.sub("\n", text)  # line-like elements: one item, one line
    text = _HTML_CELL.sub(" ", text)
    text = _HTML_ANY_TAG.sub("\n\n", text)
    text = _clean_text(html.unescape(text)).replace("\xa0", " ")
    # str.split() also folds the ideographic space (U+3000) that indents Chinese paragraphs.
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _html_title(source: str) -> str | None:
    match = _HTML_TITLE.search(source)
    if not match:
        return None
    return _tidy_title(html.unescape(re.sub(r"<[^>]*>", "", match.group(1))))


def _markdown_title(source: str) -> str | None:
    """The text of the first level-one heading, ignoring '#' lines inside code blocks."""
    tokens = _MARKDOWN.parse(source)
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h1":
            children = tokens[index + 1].children or []
            return _tidy_title("".join(child.content for child in children))
    return None


def _text_pages(source: str) -> list[str]:
    """Plain text split into pages at form feeds, the page break of printed text files."""
    pages = source.split("\f")
    if len(pages) > 1 and not pages[-1].strip():
        pages.pop()  # a form feed that ends the file does not start another page
    return pages
