"""The interface in English and Simplified Chinese.

Which language a request gets (the person's choice, else the one made before logging in,
else the browser's), the language switch, pages in each language, and catalogs that are
complete, compiled and in step with the marked strings of the sources: a string marked
later without a translation fails ``test_every_marked_string_is_in_the_catalog_template``
or ``test_every_message_is_translated`` until ``make translations`` and a translator ran.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from annotator.extensions import db
from annotator.locales import LOCALES, best_locale, html_lang, locale_for_tag
from annotator.models import User

from .conftest import FIXTURES, PASSWORD, AuthActions, Project, csrf_token
from .test_documents import outcomes, upload

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "annotator" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# The keywords scripts/update-translations.sh gives `pybabel extract` besides the defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_pgettext": ((1, "c"), 2), "Message": None}


def catalog_files(locale: str) -> tuple[Path, Path]:
    """The .po and .mo of a translated locale."""
    folder = TRANSLATIONS / locale / "LC_MESSAGES"
    return folder / "messages.po", folder / "messages.mo"


TRANSLATED = [locale for locale in LOCALES if locale != "en"]


def html_lang_of(body: str) -> str:
    """The ``lang`` of a page's ``<html>`` element."""
    match = re.search(r'<html lang="([^"]*)">', body)
    assert match, "no <html lang>"
    return match.group(1)


def set_locale(username: str, locale: str | None) -> None:
    """Store a person's interface language, as the switch or the PI would."""
    user = db.session.scalar(db.select(User).where(User.username == username))
    assert user is not None
    user.locale = locale
    db.session.commit()


def stored_locale(username: str) -> str | None:
    """A person's interface language as the database holds it now."""
    db.session.expire_all()
    return db.session.scalar(db.select(User.locale).where(User.username == username))


# --- which language a request gets ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("zh", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh_CN", "zh_Hans"),
        ("zh-cn", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh-Hans-HK", "zh_Hans"),  # the script decides, not the region
        ("zh-TW", None),
        ("zh-HK", None),
        ("zh-MO", None),
        ("zh-Hant", None),
        ("zh-Hant-CN", None),
        ("fr", None),
        ("ja", None),
        ("*", None),
        ("", None),
    ],
)
def test_locale_for_tag(tag: str, locale: str | None) -> None:
    assert locale_for_tag(tag) == locale


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("en", "en"),
        ("zh-CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh;q=0.9,en;q=0.8", "zh_Hans"),
        ("en;q=0.5,zh-CN;q=0.9", "zh_Hans"),  # the quality decides, not the order
        ("zh-TW", None),
        ("zh-TW,en;q=0.8", "en"),  # Traditional Chinese readers get English, not Simplified
        ("fr", None),
        ("fr,de;q=0.9,zh-SG;q=0.2", "zh_Hans"),
        ("zh-CN;q=0,en;q=0.5", "en"),  # q=0: "not this one"
        ("", None),
    ],
)
def test_best_locale_of_an_accept_language_header(header: str, locale: str | None) -> None:
    assert best_locale(parse_accept_header(header, LanguageAccept)) == locale


@pytest.mark.parametrize(("locale", "tag"), [("en", "en"), ("zh_Hans", "zh-Hans")])
def test_html_lang(locale: str, tag: str) -> None:
    assert html_lang(locale) == tag


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("en", "en"),
        ("zh-CN", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh-TW", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),  # no header at all, as the other tests send
    ],
)
def test_the_browser_language_chooses_for_a_visitor(
    client: FlaskClient, header: str | None, lang: str
) -> None:
    headers = {"Accept-Language": header} if header is not None else {}
    body = client.get("/login", headers=headers).get_data(as_text=True)
    assert html_lang_of(body) == lang
    assert ("登录" in body) is (lang == "zh-Hans")


@pytest.mark.parametrize(
    ("stored", "header", "lang"),
    [
        ("zh_Hans", "en", "zh-Hans"),
        ("en", "zh-CN", "en"),
        (None, "zh-CN", "zh-Hans"),
        (None, "en", "en"),
        ("zh_Hans", None, "zh-Hans"),
    ],
)
def test_a_persons_stored_language_wins_over_the_browser(
    client: FlaskClient,
    auth: AuthActions,
    project: Project,
    stored: str | None,
    header: str | None,
    lang: str,
) -> None:
    set_locale("alice", stored)
    auth.login("alice")
    headers = {"Accept-Language": header} if header is not None else {}
    assert html_lang_of(client.get("/code/", headers=headers).get_data(as_text=True)) == lang


# --- the language switch -------------------------------------------------------------------


def test_the_switch_stores_the_choice_on_the_person(
    app: Flask, client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("alice")
    response = auth.post("/language", {"locale": "zh_Hans", "next": "/code/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/code/"
    assert stored_locale("alice") == "zh_Hans"
    assert "我的文档" in client.get("/code/").get_data(as_text=True)
    # Kept with the person, not the browser: another browser, logged in, gets it too.
    other = app.test_client()
    AuthActions(other).login("alice")
    assert html_lang_of(other.get("/code/").get_data(as_text=True)) == "zh-Hans"
    # And back.
    auth.post("/language", {"locale": "en"})
    assert stored_locale("alice") == "en"
    assert "My documents" in client.get("/code/").get_data(as_text=True)


def test_the_switch_works_before_logging_in(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    response = auth.post("/language", {"locale": "zh_Hans", "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    body = client.get("/login").get_data(as_text=True)
    assert html_lang_of(body) == "zh-Hans"
    assert "用户名" in body
    # Kept in the session only: nobody's stored language changed.
    assert db.session.scalar(db.select(User).where(User.locale.is_not(None))) is None
    # It lasts through logging in, for a person who chose nothing; a person's choice wins.
    auth.login("alice")
    assert html_lang_of(client.get("/code/").get_data(as_text=True)) == "zh-Hans"
    auth.logout()
    set_locale("bob", "en")
    auth.login("bob")
    assert html_lang_of(client.get("/code/").get_data(as_text=True)) == "en"


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_the_switch_needs_the_csrf_token(
    client: FlaskClient, auth: AuthActions, project: Project, token: str | None
) -> None:
    auth.login("alice")
    data = {"locale": "zh_Hans", **({"csrf_token": token} if token else {})}
    assert client.post("/language", data=data).status_code == 400
    assert stored_locale("alice") is None
    assert html_lang_of(client.get("/code/").get_data(as_text=True)) == "en"


@pytest.mark.parametrize("locale", ["fr", "zh_Hant", "zh-Hans", "ZH_HANS", "", None])
@pytest.mark.parametrize("who", ["alice", None])
def test_the_switch_refuses_an_unsupported_language(
    client: FlaskClient, auth: AuthActions, project: Project, locale: str | None, who: str | None
) -> None:
    if who:
        auth.login(who)
    response = auth.post("/language", {"locale": locale} if locale is not None else {})
    assert response.status_code == 400
    assert stored_locale("alice") is None
    assert html_lang_of(client.get("/login").get_data(as_text=True)) == "en"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
    ],
)
def test_the_switch_goes_back_only_to_a_page_of_this_site(
    auth: AuthActions, project: Project, target: str
) -> None:
    auth.login("alice")
    response = auth.post("/language", {"locale": "zh_Hans", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert stored_locale("alice") == "zh_Hans"


def test_the_switch_comes_back_to_the_page_it_is_on(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("pi")
    body = client.get("/documents/?sort=year").get_data(as_text=True)
    assert 'name="next" value="/documents/?sort=year"' in body
    response = auth.post("/language", {"locale": "zh_Hans", "next": "/documents/?sort=year"})
    assert response.headers["Location"] == "/documents/?sort=year"


def test_the_switch_shows_each_language_in_itself(client: FlaskClient) -> None:
    body = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    form = re.search(r'<form class="language".*?</form>', body, re.S)
    assert form, "no language switch on the login page"
    buttons = re.findall(r'<button[^>]*value="(\w+)"[^>]*>([^<]*)</button>', form.group(0))
    assert buttons == [("en", "English"), ("zh_Hans", "简体中文")]
    assert 'value="zh_Hans" lang="zh-Hans" aria-pressed="true" disabled' in form.group(0)


# --- pages in each language ----------------------------------------------------------------

# Pages of the PI, with a text each shows in Chinese (and its English original).
PI_PAGES = [
    ("/admin/", "概览", "Overview"),
    ("/admin/", "4 份文档 · 1 个编码簿 · 3 名编码员", "4 documents · 1 codebook · 3 coders"),
    ("/admin/users", "添加人员", "Add a person"),
    ("/admin/users", "<td>编码员</td>", "<td>coder</td>"),
    ("/admin/codebooks", "载入编码簿文件", "Load a codebook file"),
    ("/admin/assignments", "按规则分配", "By rule"),
    (
        "/admin/assignments",
        "信度样本（N%，或 N 份文档）",
        "Reliability sample (N%, or N documents)",
    ),
    ("/documents/", "页数", "Pages"),
    ("/documents/upload", "上传文档", "Upload documents"),
    ("/documents/{shared}", "分配给", "Assigned to"),
    ("/documents/{shared}", "alice (wechat_policing) · 信度样本", "· reliability sample"),
]


@pytest.mark.parametrize(("url", "chinese", "english"), PI_PAGES)
def test_the_pis_pages_in_each_language(
    client: FlaskClient,
    auth: AuthActions,
    project: Project,
    url: str,
    chinese: str,
    english: str,
) -> None:
    url = url.format(shared=project.document_ids["zh_cid_font.pdf"])
    auth.login("pi")
    body = client.get(url).get_data(as_text=True)
    assert english in body and chinese not in body
    set_locale("pi", "zh_Hans")
    body = client.get(url).get_data(as_text=True)
    assert chinese in body and english not in body
    assert html_lang_of(body) == "zh-Hans"
    # The top bar too: every link of the PI's navigation is in Chinese.
    for text in ("概览", "文档", "编码簿", "人员", "任务分配", "退出登录", "(项目负责人)"):
        assert text in body


def test_the_queue_in_chinese_for_a_coder_who_chose_it(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    set_locale("alice", "zh_Hans")
    auth.login("alice")
    body = client.get("/code/").get_data(as_text=True)
    assert html_lang_of(body) == "zh-Hans"
    for text in ("我的文档", "下一份未编码文档", "已提交 0 / 2 份。", "未开始", "(编码员)"):
        assert text in body
    for text in ("My documents", "Next uncoded", "submitted.", "not started"):
        assert text not in body


def test_the_queue_in_english_otherwise(
    client: FlaskClient, auth: AuthActions, project: Project
) -> None:
    auth.login("alice")
    body = client.get("/code/").get_data(as_text=True)
    assert html_lang_of(body) == "en"
    for text in ("My documents", "Next uncoded", "0 of 2 submitted.", "not started", "(coder)"):
        assert text in body
    for text in ("我的文档", "已提交", "编码员"):
        assert text not in body


def test_messages_follow_the_language(client: FlaskClient, project: Project) -> None:
    headers = {"Accept-Language": "zh-CN"}
    client.get("/code/", headers=headers)  # to the login page, with a message
    body = client.get("/login", headers=headers).get_data(as_text=True)
    assert "请先登录再访问此页面。" in body
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": "alice", "password": "wrong", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 401
    assert "用户名或密码错误。" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("locale", "over_maximum", "required", "not_on_page"),
    [
        (
            "zh_Hans",
            "3000 超过最大值 2035",
            "必填：提交前请填写",
            "province: 第 2 页上没有这段引文",
        ),
        (
            None,
            "3000 is above the maximum of 2035",
            "required: give a value before submitting",
            "province: the quote is not on page 2",
        ),
    ],
)
def test_a_coders_refused_values_are_explained_in_their_language(
    client: FlaskClient,
    auth: AuthActions,
    project: Project,
    locale: str | None,
    over_maximum: str,
    required: str,
    not_on_page: str,
) -> None:
    """The codebook's and the label service's messages follow the interface's language."""
    set_locale("alice", locale)
    db.session.commit()
    auth.login("alice")
    document_id = project.document_ids["zh_cid_font.pdf"]
    response = auth.post_json(f"/code/{document_id}/labels.json", {"values": {"year": "3000"}})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"year": over_maximum}
    response = auth.post(
        f"/code/{document_id}", {"v_year": "", "revision": "0", "action": "submit"}
    )
    assert response.status_code == 422
    errors = re.search(
        r'<div class="variable[^"]*" id="variable-year".*?<p class="field-error"[^>]*>(.*?)</p>',
        response.get_data(as_text=True),
        re.S,
    )
    assert errors and errors.group(1) == required
    response = auth.post_json(
        f"/code/{document_id}/evidence.json",
        {"variable": "province", "page": 2, "quote": "采购人：福建省公安厅"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == not_on_page


def test_import_refusals_are_explained_in_the_pis_language(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    set_locale("pi", "zh_Hans")
    db.session.commit()
    pdf = (FIXTURES / "zh_cid_font.pdf").read_bytes()
    response = upload(
        pi,
        [(b"", "empty.txt"), (b"<html>hello</html>", "fake.pdf"), (pdf, "again.pdf")],
    )
    assert response.status_code == 422
    reasons = [reason for _file, _result, reason in outcomes(response.text)]
    assert reasons == [
        "空文件",
        "不是 PDF（文件以 '<html>' 开头，尽管扩展名为 .pdf）",
        f"内容与文档 {project.document_ids['zh_cid_font.pdf']}（zh_cid_font.pdf）相同",
    ]


def test_the_pi_sets_a_new_persons_language(
    client: FlaskClient, pi: AuthActions, project: Project
) -> None:
    for name, locale in (("dana", "zh_Hans"), ("erin", "")):
        response = pi.post(
            "/admin/users",
            {"username": name, "role": "coder", "locale": locale, "password": PASSWORD},
        )
        assert response.status_code == 302
    assert stored_locale("dana") == "zh_Hans"
    assert stored_locale("erin") is None
    body = client.get("/admin/users").get_data(as_text=True)
    assert "<td>简体中文</td>" in body
    refused = pi.post(
        "/admin/users", {"username": "fay", "role": "coder", "locale": "fr", "password": PASSWORD}
    )
    assert refused.status_code == 422
    assert stored_locale("fay") is None


@pytest.mark.parametrize(("option", "stored"), [([], None), (["--locale", "zh_Hans"], "zh_Hans")])
def test_the_command_line_sets_a_new_persons_language(
    app: Flask, option: list[str], stored: str | None
) -> None:
    args = ["users", "add", "gus", "--role", "coder", "--generate-password", *option]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert stored_locale("gus") == stored


def test_the_command_line_refuses_an_unsupported_language(app: Flask) -> None:
    args = ["users", "add", "gus", "--role", "coder", "--generate-password", "--locale", "fr"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    assert "zh_Hans" in result.output


# --- the catalogs --------------------------------------------------------------------------


def read_catalog(path: Path) -> Catalog:
    """A .po or .pot file, parsed."""
    with path.open("rb") as file:
        return read_po(file)


def key(message: Any) -> tuple[str | None, str | tuple[str, ...]]:
    """A message's identity: its context and id (a tuple for a plural)."""
    # read_po gives a plural's ids as a tuple and the context as text; read_mo a list and bytes.
    ids, context = message.id, message.context
    if isinstance(context, bytes):
        context = context.decode("utf-8")
    return context, ids if isinstance(ids, str) else tuple(ids)


def strings(message: Any) -> tuple[str, ...]:
    """A message's translation, every plural form of it."""
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def test_every_marked_string_is_in_the_catalog_template() -> None:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = {
        (context, message)
        for _file, _line, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }
    in_template = {key(message) for message in read_catalog(TEMPLATE) if message.id}
    assert extracted, "the extraction found nothing: is babel.cfg right?"
    assert extracted - in_template == set(), "run `make translations` and translate"
    assert in_template - extracted == set(), "run `make translations`: these are gone"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated(locale: str) -> None:
    po, _ = catalog_files(locale)
    translated = {key(message): message for message in read_catalog(po) if message.id}
    problems = []
    for message in read_catalog(TEMPLATE):
        if not message.id:
            continue
        found = translated.get(key(message))
        if found is None:
            problems.append(f"missing: {message.id!r}")
        elif found.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(strings(found)):
            problems.append(f"untranslated: {message.id!r}")
    assert problems == [], f"translate these in {po.relative_to(ROOT)}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_compiled_catalog_is_up_to_date(locale: str) -> None:
    po, mo = catalog_files(locale)
    with mo.open("rb") as file:
        compiled = read_mo(file)
    # pybabel compile leaves out fuzzy and untranslated messages, as the application would.
    expected = {
        key(message): strings(message)
        for message in read_catalog(po)
        if message.id and not message.fuzzy and all(strings(message))
    }
    actual = {key(message): strings(message) for message in compiled if message.id}
    assert actual == expected, "run `make translations` to compile the .po again"


PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|\{\w+\}")


def placeholders(text: str) -> list[str]:
    """The named placeholders of a message, sorted: ``%(name)s``, ``{name}``."""
    return sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_the_placeholders(locale: str) -> None:
    po, _ = catalog_files(locale)
    problems = []
    for message in read_catalog(po):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        # A plural's translations may each stand for any count: each keeps the plural's.
        wanted = placeholders(ids[-1])
        for text in strings(message):
            if text and placeholders(text) != wanted:
                problems.append((message.id, text))
    assert problems == []


def test_the_placeholder_check_would_catch_a_lost_placeholder() -> None:
    assert placeholders("Added %(role)s '%(username)s'.") == ["%(role)s", "%(username)s"]
    assert placeholders("已添加“%(username)s”。") != placeholders("Added %(role)s '%(username)s'.")
    assert placeholders("{count} of {total}") == ["{count}", "{total}"]
