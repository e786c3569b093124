"""Tests for annotator.sanitize: hostile HTML and Markdown in, safe HTML out, stable."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.extraction import DocumentFormat, RefusedFile
from annotator.sanitize import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    LINK_REL,
    clear_cache,
    document_html,
    markdown_html,
    sanitize_html,
    stored_document_html,
)

FIXTURES = Path(__file__).parent / "fixtures"
LINK_PREFIXES = ("http://", "https://", "mailto:")


class Elements(HTMLParser):
    """Every start tag of a piece of HTML, with its attributes, as a browser would read them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_safe(output: str) -> None:
    """Only allowed tags and attributes; links only to the web or e-mail, opened safely."""
    assert "<script" not in output.lower()
    for tag, attributes in Elements(output).tags:
        assert tag in ALLOWED_TAGS, tag
        allowed = ALLOWED_ATTRIBUTES["*"] | ALLOWED_ATTRIBUTES.get(tag, set())
        if tag == "a":
            allowed = allowed | {"target", "rel"}
            assert attributes.get("rel") == LINK_REL
            assert attributes.get("target") == "_blank"
        for name, value in attributes.items():
            assert name in allowed, (tag, name)
            assert not name.startswith("on"), (tag, name)
            if name == "href":
                assert (value or "").lower().startswith(LINK_PREFIXES), value


# Each hostile input: what must not survive, and what text must.
HOSTILE = [
    ("script", "<p>kept</p><script>alert('SCRIPT')</script>", ["SCRIPT", "<script"], "kept"),
    ("img onerror", "kept<img src=x onerror=alert(1)>", ["<img", "onerror", "src="], "kept"),
    ("svg onload", "<svg onload=alert(1)><circle r=1 /></svg>kept", ["svg", "onload"], "kept"),
    ("javascript href", '<a href="javascript:alert(1)">kept</a>', ["javascript", "href"], "kept"),
    (
        "entity-obfuscated scheme",
        '<a href="JaVaScRiPt&#58;alert(1)">kept</a>',
        ["alert", "href"],
        "kept",
    ),
    (
        "scheme after control characters",
        '<a href="\x01 java\tscript:alert(1)">kept</a>',
        ["alert", "href"],
        "kept",
    ),
    ("data href", '<a href="data:text/html,<script>x</script>">kept</a>', ["data:"], "kept"),
    ("vbscript href", '<a href="vbscript:msgbox(1)">kept</a>', ["vbscript", "href"], "kept"),
    ("relative href", '<a href="/news/1.html">kept</a>', ["/news", "href"], "kept"),
    ("protocol-relative href", '<a href="//evil.example/">kept</a>', ["evil", "href"], "kept"),
    (
        "iframe srcdoc",
        "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>kept",
        ["iframe", "srcdoc", "alert"],
        "kept",
    ),
    (
        "meta refresh",
        '<meta http-equiv="refresh" content="0;url=http://evil.example/">kept',
        ["meta", "refresh", "evil"],
        "kept",
    ),
    ("base href", '<base href="http://evil.example/">kept', ["base", "evil"], "kept"),
    (
        "stylesheet link",
        '<link rel="stylesheet" href="//evil.example/x.css">kept',
        ["link", "evil"],
        "kept",
    ),
    (
        "style import",
        "<style>@import url(//evil.example/x.css);</style>kept",
        ["style", "@import", "evil"],
        "kept",
    ),
    (
        "style attribute",
        '<p style="background:url(//evil.example/x.png)">kept</p>',
        ["style", "url(", "evil"],
        "kept",
    ),
    (
        "css expression",
        '<div style="width: expression(alert(1))">kept</div>',
        ["expression", "style"],
        "kept",
    ),
    (
        "form",
        '<form action="http://evil.example/"><input name="q" value="v"><button formaction="//evil.example">kept</button></form>',
        ["form", "input", "action", "evil"],
        "kept",
    ),
    ("object data", '<object data="http://evil.example/x.swf"></object>kept', ["object", "evil"], "kept"),
    ("embed", '<embed src="http://evil.example/x.swf">kept', ["embed", "evil"], "kept"),
    (
        "mutation xss through math",
        "kept<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        ["<img", "onerror", "math", "style"],
        "kept",
    ),
    (
        "mutation xss through noscript",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>kept',
        ["<img", "onerror"],
        "kept",
    ),
    ("noscript", "<noscript>NOSCRIPT</noscript>kept", ["NOSCRIPT"], "kept"),
    ("uppercase tags", "<P><SCRIPT>alert(1)</SCRIPT>kept</P>", ["alert", "SCRIPT"], "kept"),
    ("unclosed tags", "<p>kept <b>bold <i>italic <script>alert(1)", ["alert"], "italic"),
    ("comment", "kept<!-- COMMENT --><!--[if IE]><script>x</script><![endif]-->", ["COMMENT", "<!--"], "kept"),
    (
        "class id and handlers",
        '<p class="flash" id="label-form" onclick="alert(1)" onmouseover=x>kept</p>',
        ["class", "id=", "onclick", "onmouseover"],
        "kept",
    ),
    ("background attribute", '<table background="//evil.example/x.png"><tr><td>kept</td></tr></table>', ["background", "evil"], "kept"),
    ("video and audio", '<video src="//evil.example/v.mp4" poster="//evil.example/p.png"><source src="//evil.example/a.mp3"></video>kept', ["video", "source", "poster", "evil"], "kept"),
    ("srcset", '<picture><source srcset="//evil.example/x.png"><img srcset="//evil.example/y.png 2x"></picture>kept', ["srcset", "evil"], "kept"),
    ("template", "<template><p>TEMPLATE</p></template>kept", ["TEMPLATE"], "kept"),
    ("evidence highlight lookalike", '<mark class="evidence">kept</mark>', ["<mark", "evidence"], "kept"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "absent", "kept"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_html_is_neutralised(source: str, absent: list[str], kept: str) -> None:
    output = sanitize_html(source)
    assert_safe(output)
    for text in absent:
        assert text not in output
    assert kept in output
    assert sanitize_html(output) == output


@pytest.mark.parametrize(
    ("markdown", "absent", "kept"),
    [
        ("# Title\n\n<script>alert(1)</script>\n\ntext", ["<script", "alert"], "<h1>Title</h1>"),
        ("[click](javascript:alert(1))", ["<a", "href"], "click"),
        ("[click](JAVASCRIPT:alert(1))", ["<a", "href"], "click"),
        ("<a href='javascript:alert(1)'>click</a>", ["javascript", "href"], "click"),
        ('<img src="x" onerror="alert(1)">text', ["<img", "onerror"], "text"),
        ("![alt text](http://evil.example/x.png)", ["<img", "evil", "src="], "<p>"),
        ("<div style='color:red' onclick='x'>inline *html*</div>", ["style", "onclick"], "inline"),
        ("[site](https://example.org/)", ["javascript"], 'href="https://example.org/"'),
    ],
)
def test_hostile_markdown_is_neutralised(markdown: str, absent: list[str], kept: str) -> None:
    output = markdown_html(markdown)
    assert_safe(output)
    for text in absent:
        assert text not in output
    assert kept in output
    assert sanitize_html(output) == output


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>　　记者从市公安局获悉，平台已开通。</p>", "<p>　　记者从市公安局获悉，平台已开通。</p>"),
        ("<h1>标题</h1><h2>Sub</h2><h6>six</h6>", "<h1>标题</h1><h2>Sub</h2><h6>six</h6>"),
        (
            '<table><tr><th colspan="2">预算</th></tr><tr><td rowspan="2">一</td><td>二</td></tr></table>',
            '<table><tbody><tr><th colspan="2">预算</th></tr><tr><td rowspan="2">一</td><td>二</td></tr></tbody></table>',
        ),
        ('<td colspan="two">x</td>', "x"),  # a cell outside a table is no cell
        ('<table><tr><td colspan="x9">c</td></tr></table>', "<table><tbody><tr><td>c</td></tr></tbody></table>"),
        ("<ul><li>微信报警</li><li>实名认证</ul>", "<ul><li>微信报警</li><li>实名认证</li></ul>"),
        ('<ol start="3"><li>c</li></ol>', '<ol start="3"><li>c</li></ol>'),
        ("<dl><dt>术语</dt><dd>定义</dd></dl>", "<dl><dt>术语</dt><dd>定义</dd></dl>"),
        (
            '<a href="https://example.org/a?b=1&amp;c=2">link</a>',
            '<a href="https://example.org/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">link</a>',
        ),
        (
            '<a href="mailto:press@example.org" rel="opener" target="_self">mail</a>',
            '<a href="mailto:press@example.org" target="_blank" rel="noopener noreferrer nofollow">mail</a>',
        ),
        ('<p lang="zh-CN" dir="RTL" title="说明">x</p>', '<p lang="zh-CN" dir="rtl" title="说明">x</p>'),
        ('<p lang="en;x" dir="up">x</p>', "<p>x</p>"),
        ("<blockquote><p>q</p></blockquote><pre><code>a  b</code></pre>", "<blockquote><p>q</p></blockquote><pre><code>a  b</code></pre>"),
        ("<figure><figcaption>图一</figcaption></figure>", "<figure><figcaption>图一</figcaption></figure>"),
        ("<ruby>警<rt>jǐng</rt></ruby>", "<ruby>警<rt>jǐng</rt></ruby>"),
        ("a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c"),
        ("<center><font color=red>old</font></center>", "old"),
    ],
)  # fmt: skip
def test_reading_matter_is_kept(source: str, expected: str) -> None:
    assert sanitize_html(source) == expected


def test_whole_page_keeps_its_body_only() -> None:
    output = document_html((FIXTURES / "report.html").read_bytes(), DocumentFormat.HTML)
    assert_safe(output)
    assert "<h1>某市公安局“微信警务”平台正式上线</h1>" in output
    assert "<ul><li>微信报警</li><li>实名认证</li></ul>" in output
    for absent in ("SCRIPT-CONTENT", "ONERROR", "COMMENT", "NOSCRIPT", "font-family", "示例日报</"):
        assert absent not in output


def test_markdown_document_renders_headings_lists_and_code() -> None:
    output = document_html((FIXTURES / "notes.md").read_bytes(), DocumentFormat.MARKDOWN)
    assert "<h1>编码说明：微信警务研究</h1>" in output
    assert "<h2>Second-level heading</h2>" in output
    assert "<li>服务类型：可多选</li>" in output
    assert "<pre><code># not a title" in output


def test_markdown_tables_are_kept() -> None:
    output = markdown_html("| 项目 | 金额 |\n|---|--:|\n| 维护 | 3 |\n")
    assert "<th>项目</th>" in output
    assert "<td>3</td>" in output
    assert "style" not in output


@pytest.mark.parametrize(
    ("data", "document_format"),
    [
        ("<p>微信警务</p>".encode("gb18030"), DocumentFormat.HTML),
        ('<meta charset="gbk"><p>微信警务</p>'.encode("gb18030"), DocumentFormat.HTML),
        (
            b"\xef\xbb\xbf<p>\xe5\xbe\xae\xe4\xbf\xa1\xe8\xad\xa6\xe5\x8a\xa1</p>",
            DocumentFormat.HTML,
        ),
        ("<p>微信警务</p>".encode("utf-16"), DocumentFormat.HTML),
        ("# 微信警务\n".encode("gb18030"), DocumentFormat.MARKDOWN),
    ],
)
def test_originals_are_decoded_as_at_import(data: bytes, document_format: DocumentFormat) -> None:
    assert "微信警务" in document_html(data, document_format)


def test_undecodable_original_is_refused() -> None:
    with pytest.raises(RefusedFile):
        document_html(b"<p>\x00\x01\x02</p>", DocumentFormat.HTML)


@pytest.mark.parametrize("document_format", [DocumentFormat.PDF, DocumentFormat.TEXT])
def test_other_formats_have_no_rendering(document_format: DocumentFormat) -> None:
    with pytest.raises(ValueError):
        document_html(b"text", document_format)


def test_stored_rendering_is_cached_by_hash(tmp_path: Path) -> None:
    clear_cache()
    path = tmp_path / "stored"
    path.write_bytes(b"<p>first</p>")
    assert stored_document_html(path, "0" * 64, DocumentFormat.HTML) == "<p>first</p>"
    path.unlink()  # the content of a hash never changes: no need to read it again
    assert stored_document_html(path, "0" * 64, DocumentFormat.HTML) == "<p>first</p>"
    with pytest.raises(OSError):
        stored_document_html(path, "1" * 64, DocumentFormat.HTML)
    clear_cache()


# Pieces of HTML that, shuffled together, make the kind of soup browsers must cope with.
HTML_PIECES = [
    "<script>", "</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", "<math>",
    "<mtext>", "<mglyph>", "<table>", "<tr>", "<td colspan=2>", "</table>", "<style>",
    "</style>", "<!--", "-->", "<noscript>", "</noscript>", "<p>", "</p>", "<a href='",
    "javascript:alert(1)", "https://example.org/", "'>", "</a>", "<iframe srcdoc='", "<xmp>",
    "<textarea>", "</textarea>", "<template>", "<title>", "<select>", "<option>", "&lt;", "&#58;",
    "&amp;", '"', "'", "<", ">", "/", "=", " on", "click=", "src=", "style=", "<b>", "<i>", "</b>",
    "<ul><li>", "<h1>", "<pre>", "\n", " ", "微信", "<![CDATA[", "]]>", "<?xml", "<plaintext>",
    "<form action=x>", "<input>", "<base href=//x>", "<div lang=zh dir=rtl title='<p>'>",
]  # fmt: skip


MARKDOWN_PIECES = [*HTML_PIECES, "# ", "[x](", ")", "![", "`", "*", "|", "- ", "> ", "\n\n"]


def soup(pieces: list[str]) -> st.SearchStrategy[str]:
    """Arbitrary text, or arbitrary text mixed with pieces of hostile and benign markup."""
    piece = st.one_of(st.sampled_from(pieces), st.text(max_size=8))
    return st.one_of(st.text(), st.lists(piece, max_size=40).map("".join))


@settings(max_examples=300, deadline=None)
@given(soup(HTML_PIECES))
def test_any_input_comes_out_safe_and_stable(source: str) -> None:
    output = sanitize_html(source)
    assert_safe(output)
    for _, attributes in Elements(output).tags:
        assert "src" not in attributes
    assert sanitize_html(output) == output


@settings(max_examples=150, deadline=None)
@given(soup(MARKDOWN_PIECES))
def test_any_markdown_comes_out_safe_and_stable(source: str) -> None:
    output = markdown_html(source)
    assert_safe(output)
    assert sanitize_html(output) == output
