"""REFI-QDA exchange files: a project (``.qdpx``) and a codebook (``.qdc``).

The REFI-QDA standard (www.qdasoftware.org) is read by ATLAS.ti, MAXQDA, NVivo and
QualCoder. A ``.qdpx`` is a zip holding ``project.qde`` (XML in the namespace
``urn:QDA-XML:project:1.0``) and the source files under ``sources/``; a ``.qdc`` is the
codebook alone (``urn:QDA-XML:codebook:1.0``).

The codebook becomes codes: one code per variable, with a child code per option. Each
evidence quote becomes a coded passage (a ``PlainTextSelection``) of the document's plain
text, coded with the option(s) the coder chose for the variable, or with the variable's
code when it has no options or no option was chosen, and credited to the coder. A chosen
option without a quote codes the whole source (a ``Coding`` of the source itself), still
credited to its coder.

Each document is also a case (``Case``) of its source: its metadata and the final values
of variables without options are the case's variable values (``Variables``), and the final
options chosen are the case's codes (``CodeRef``).

Positions are counted in characters (Unicode code points) of the exported plain text,
which is the document's extracted text: its pages joined with
``extraction.PAGE_SEPARATOR``, so that a page's ``char_start`` plus an offset within the
page is an offset in the whole text.

GUIDs are UUID 5 of stable keys (document hash, user name, variable id, option code ...),
so the same data exports to the same file. This module imports no Flask and no
SQLAlchemy; ``services.refi_qda`` gathers its inputs from the database.
"""

from __future__ import annotations

import functools
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Literal

from lxml import etree

from .codebook import Codebook, Variable
from .extraction import PAGE_SEPARATOR

PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
CODEBOOK_NAMESPACE = "urn:QDA-XML:codebook:1.0"
ORIGIN = "annotator"
SCHEMA_DIR = Path(__file__).parent / "schemas" / "refi-qda"
SCHEMA_FILES = {"project": "Project.xsd", "codebook": "Codebook.xsd"}

# The namespace of every GUID this module makes: fixed, so that GUIDs are reproducible.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:annotator:refi-qda")
# Zip entries carry this timestamp, so that the same project gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# Characters XML 1.0 does not allow, even escaped: control characters other than tab,
# newline and carriage return, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_LIMIT = 100

Which = Literal["project", "codebook"]
# The types a REFI-QDA variable can have (``typeOfVariableType``).
VariableKind = Literal["Text", "Boolean", "Integer", "Float", "Date", "DateTime"]


class InvalidRefiQda(ValueError):
    """XML that the REFI-QDA schema refuses; ``errors`` holds lxml's messages."""

    def __init__(self, which: str, errors: Sequence[str]) -> None:
        super().__init__(f"not a valid REFI-QDA {which}: " + "; ".join(errors))
        self.errors = list(errors)


class SchemaMissing(RuntimeError):
    """The schema to validate against is not installed (see ``schemas/refi-qda/README.md``)."""


@dataclass(frozen=True)
class Code:
    """A code of the codebook, possibly with child codes."""

    guid: str
    name: str
    description: str | None = None
    children: tuple[Code, ...] = ()
    codable: bool = True
    color: str | None = None

    def walk(self) -> Iterable[Code]:
        """This code and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class User:
    """A person credited with codings: a coder."""

    guid: str
    name: str
    id: str | None = None


@dataclass(frozen=True)
class Source:
    """A document: its plain text and, for a PDF, the original file (bytes or a path).

    A source with an ``original`` and the extension ``pdf`` is exported as a PDF source
    whose plain-text representation carries the codings; any other as a text source.
    """

    guid: str
    name: str
    text: str
    original: bytes | Path | None = None
    extension: str | None = None
    created: datetime | None = None

    @property
    def is_pdf(self) -> bool:
        """Whether the source is exported as a PDF with a text representation."""
        return self.original is not None and (self.extension or "").lower() == "pdf"


@dataclass(frozen=True)
class Segment:
    """A passage of a source's plain text coded with one code by one user."""

    source_guid: str
    start: int
    end: int
    code_guid: str
    user_guid: str
    created: datetime | None = None


@dataclass(frozen=True)
class SourceCoding:
    """A whole source coded with one code by one user: a value given without a quote."""

    source_guid: str
    code_guid: str
    user_guid: str
    created: datetime | None = None


@dataclass(frozen=True)
class CaseVariable:
    """A variable cases have values of (a REFI-QDA ``Variable``): a metadata field, say."""

    guid: str
    name: str
    kind: VariableKind = "Text"
    description: str | None = None


@dataclass(frozen=True)
class Case:
    """A unit of analysis: a document's source, its variable values and its codes.

    ``values`` maps a variable's GUID to its value (None: missing, left out); a value is
    written as the variable's kind asks (``variable_value_text``).
    """

    guid: str
    name: str
    source_guids: tuple[str, ...] = ()
    code_guids: tuple[str, ...] = ()
    values: tuple[tuple[str, object], ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Project:
    """Everything a ``.qdpx`` holds."""

    name: str
    codes: tuple[Code, ...] = ()
    users: tuple[User, ...] = ()
    sources: tuple[Source, ...] = ()
    segments: tuple[Segment, ...] = ()
    source_codings: tuple[SourceCoding, ...] = ()
    variables: tuple[CaseVariable, ...] = ()
    cases: tuple[Case, ...] = ()
    description: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    origin: str = ORIGIN


# --- identities ------------------------------------------------------------------------


def guid(*key: object) -> str:
    """A GUID made from a stable key: the same key always gives the same GUID."""
    # JSON keeps the parts apart: ("a", "b") and ("a\x1fb",) must not meet.
    name = json.dumps([str(part) for part in key], ensure_ascii=False)
    return str(uuid.uuid5(GUID_NAMESPACE, name)).upper()


def variable_guid(codebook_id: str, variable_id: str) -> str:
    """The GUID of a variable's code."""
    return guid("code", codebook_id, variable_id)


def option_guid(codebook_id: str, variable_id: str, option_code: str) -> str:
    """The GUID of an option's code."""
    return guid("code", codebook_id, variable_id, option_code)


def user_guid(username: str) -> str:
    """The GUID of a coder, from the user name."""
    return guid("user", username)


def source_guid(sha256: str) -> str:
    """The GUID of a document, from the SHA-256 of its file."""
    return guid("source", sha256)


def case_guid(sha256: str) -> str:
    """The GUID of a document's case, from the SHA-256 of its file."""
    return guid("case", sha256)


def metadata_guid(field: str) -> str:
    """The GUID of the case variable of a document metadata field."""
    return guid("metadata", field)


def final_variable_guid(codebook_id: str, variable_id: str) -> str:
    """The GUID of the case variable holding a codebook variable's final values."""
    return guid("final", codebook_id, variable_id)


# --- from the codebook ------------------------------------------------------------------


def code_tree(codebook: Codebook, lang: str = "en") -> tuple[Code, ...]:
    """The codebook as codes: a code per variable, a child code per option.

    Names are the labels in ``lang`` (falling back to the other language); descriptions
    hold the definition and, on a last line, the variable id or option code, so that a
    code can be traced back to the codebook.
    """
    codes = []
    for variable in codebook.variables:
        children = tuple(
            Code(
                guid=option_guid(codebook.id, variable.id, option.code),
                name=option.label.get(lang),
                description=_describe(
                    option.definition.get(lang) if option.definition else None,
                    f"{variable.id} = {option.code}",
                ),
            )
            for option in variable.options
        )
        codes.append(
            Code(
                guid=variable_guid(codebook.id, variable.id),
                name=variable.label.get(lang),
                description=_describe(
                    variable.description.get(lang) if variable.description else None,
                    f"{variable.id} ({variable.type.value})",
                ),
                children=children,
            )
        )
    return tuple(codes)


def _describe(text: str | None, reference: str) -> str:
    return f"{text.strip()}\n\n{reference}" if text and text.strip() else reference


def codes_for_value(codebook_id: str, variable: Variable, value: object) -> list[str]:
    """The GUIDs of the codes a passage quoted for ``variable`` is coded with.

    The chosen option (single, ordinal) or options (multiple), in codebook order; the
    variable's own code for a variable without options, or when no known option is chosen.
    """
    if variable.options:
        chosen = value if isinstance(value, list | tuple) else [value]
        codes = [code for code in variable.codes if code in chosen]
        if codes:
            return [option_guid(codebook_id, variable.id, code) for code in codes]
    return [variable_guid(codebook_id, variable.id)]


def option_codes(codebook_id: str, variable: Variable, value: object) -> list[str]:
    """The GUIDs of the option codes a value chooses, in codebook order.

    Empty for a variable without options, a missing value, or codes the codebook lacks:
    a whole source or a case is coded only with what was chosen, never with the variable's
    own code (which, for a "no" or an empty answer, would read as the opposite).
    """
    if not variable.options or value is None:
        return []
    chosen = value if isinstance(value, list | tuple) else [value]
    return [option_guid(codebook_id, variable.id, c) for c in variable.codes if c in chosen]


# --- positions ---------------------------------------------------------------------------


def plain_text(pages: Sequence[str]) -> str:
    """A document's plain text: its pages joined as at import."""
    return PAGE_SEPARATOR.join(pages)


def page_starts(pages: Sequence[str]) -> list[int]:
    """The offset of each page in ``plain_text(pages)``."""
    starts, start = [], 0
    for text in pages:
        starts.append(start)
        start += len(text) + len(PAGE_SEPARATOR)
    return starts


def document_span(page_start: int, start: int, end: int) -> tuple[int, int]:
    """Offsets within a page (``start``, ``end`` exclusive) as offsets in the whole text."""
    if not 0 <= start <= end:
        raise ValueError(f"bad offsets {start}..{end}")
    return page_start + start, page_start + end


# --- XML ---------------------------------------------------------------------------------


def xml_safe(text: str) -> str:
    """``text`` without the characters XML cannot hold at all (lxml escapes the rest)."""
    return _NOT_XML.sub("", text)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _element(parent: etree._Element, tag: str, **attributes: str | None) -> etree._Element:
    namespace = etree.QName(parent).namespace
    child = etree.SubElement(parent, f"{{{namespace}}}{tag}")
    for name, value in attributes.items():
        if value is not None:
            child.set(name, xml_safe(value))
    return child


def _text_element(parent: etree._Element, tag: str, text: str) -> None:
    _element(parent, tag).text = xml_safe(text)


def _codes_element(parent: etree._Element, codes: Sequence[Code]) -> None:
    codes_element = _element(parent, "Codes")
    for code in codes:
        _code_element(codes_element, code)


def _code_element(parent: etree._Element, code: Code) -> None:
    element = _element(
        parent,
        "Code",
        guid=code.guid,
        name=code.name,
        isCodable="true" if code.codable else "false",
        color=code.color,
    )
    if code.description:
        _text_element(element, "Description", code.description)
    for child in code.children:
        _code_element(element, child)


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def text_path(source: Source) -> str:
    """The name, under ``sources/``, of a source's plain text in the ``.qdpx``."""
    return f"{_text_guid(source)}.txt"


def original_path(source: Source) -> str:
    """The name, under ``sources/``, of a source's original file in the ``.qdpx``."""
    return f"{source.guid}.{(source.extension or 'bin').lower()}"


def _text_guid(source: Source) -> str:
    # A PDF's text representation is a source of its own, with a GUID of its own.
    return guid("representation", source.guid) if source.is_pdf else source.guid


def project_xml(project: Project) -> bytes:
    """The ``project.qde`` of a project, UTF-8."""
    root = etree.Element(f"{{{PROJECT_NAMESPACE}}}Project", nsmap={None: PROJECT_NAMESPACE})
    root.set("name", xml_safe(project.name))
    root.set("origin", xml_safe(project.origin))
    if project.created is not None:
        root.set("creationDateTime", _timestamp(project.created))
    if project.modified is not None:
        root.set("modifiedDateTime", _timestamp(project.modified))
    if project.users:
        users = _element(root, "Users")
        for user in project.users:
            _element(users, "User", guid=user.guid, name=user.name, id=user.id)
    if project.codes:
        _codes_element(_element(root, "CodeBook"), project.codes)
    kinds = _variables_element(root, project.variables)
    _cases_element(root, project, kinds)
    if project.sources:
        _sources_element(root, project)
    if project.description:
        _text_element(root, "Description", project.description)
    return _serialise(root)


_VALUE_ELEMENTS: dict[str, str] = {
    "Text": "TextValue",
    "Boolean": "BooleanValue",
    "Integer": "IntegerValue",
    "Float": "FloatValue",
    "Date": "DateValue",
    "DateTime": "DateTimeValue",
}


def typed_value(kind: VariableKind, value: object) -> tuple[str, str]:
    """The element (``TextValue`` ...) and text of a variable value of this kind.

    Raises ValueError for a value the kind cannot hold (text for an Integer, NaN ...).
    A Float is written as an ``xsd:decimal``, never in exponent notation.
    """
    if kind == "Text":
        text = value if isinstance(value, str) else str(value)
    elif kind == "Boolean" and isinstance(value, bool):
        text = "true" if value else "false"
    elif kind == "Integer" and isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif (
        kind == "Float" and isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    ):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        text = format(number, "f")
    elif kind == "DateTime" and isinstance(value, datetime):
        text = _timestamp(value)
    elif kind == "Date" and isinstance(value, date) and not isinstance(value, datetime):
        text = value.isoformat()
    else:
        raise ValueError(f"a {kind} variable cannot hold {value!r}")
    return _VALUE_ELEMENTS[kind], text


def _variables_element(
    root: etree._Element, variables: Sequence[CaseVariable]
) -> dict[str, VariableKind]:
    """Write ``Variables``; the kind of each variable by GUID."""
    kinds: dict[str, VariableKind] = {}
    names: set[str] = set()
    for variable in variables:
        if variable.guid in kinds or variable.name in names:
            raise ValueError(f"two variables named {variable.name!r} or with one GUID")
        kinds[variable.guid] = variable.kind
        names.add(variable.name)
    if variables:
        element = _element(root, "Variables")
        for variable in variables:
            child = _element(
                element,
                "Variable",
                guid=variable.guid,
                name=variable.name,
                typeOfVariable=variable.kind,
            )
            if variable.description:
                _text_element(child, "Description", variable.description)
    return kinds


def _cases_element(root: etree._Element, project: Project, kinds: dict[str, VariableKind]) -> None:
    """Write ``Cases``: each case's codes, variable values and sources, in schema order."""
    if not project.cases:
        return
    sources = {source.guid for source in project.sources}
    codes = {code.guid for top in project.codes for code in top.walk()}
    element = _element(root, "Cases")
    for case in project.cases:
        child = _element(element, "Case", guid=case.guid, name=case.name)
        if case.description:
            _text_element(child, "Description", case.description)
        for code in dict.fromkeys(case.code_guids):
            if code not in codes:
                raise ValueError(f"case {case.name!r} is coded with an unknown code {code}")
            _element(child, "CodeRef", targetGUID=code)
        for variable, value in case.values:
            if variable not in kinds:
                raise ValueError(f"case {case.name!r} has a value of an unknown variable")
            if value is None:
                continue
            tag, text = typed_value(kinds[variable], value)
            value_element = _element(child, "VariableValue")
            _element(value_element, "VariableRef", targetGUID=variable)
            _text_element(value_element, tag, text)
        for source in case.source_guids:
            if source not in sources:
                raise ValueError(f"case {case.name!r} refers to an unknown source {source}")
            _element(child, "SourceRef", targetGUID=source)


def _sources_element(root: etree._Element, project: Project) -> None:
    by_source: dict[str, list[Segment]] = {}
    for segment in project.segments:
        by_source.setdefault(segment.source_guid, []).append(segment)
    whole: dict[str, list[SourceCoding]] = {}
    for coding in project.source_codings:
        whole.setdefault(coding.source_guid, []).append(coding)
    unknown = (set(by_source) | set(whole)) - {source.guid for source in project.sources}
    if unknown:
        raise ValueError(f"codings of unknown sources: {', '.join(sorted(unknown))}")
    sources = _element(root, "Sources")
    for source in project.sources:
        created = _timestamp(source.created) if source.created else None
        if source.is_pdf:
            element = _element(
                sources,
                "PDFSource",
                guid=source.guid,
                name=source.name,
                path=f"internal://{original_path(source)}",
                creationDateTime=created,
            )
            text_source = _element(
                element,
                "Representation",
                guid=_text_guid(source),
                name=source.name,
                plainTextPath=f"internal://{text_path(source)}",
                creationDateTime=created,
            )
        else:
            text_source = _element(
                sources,
                "TextSource",
                guid=source.guid,
                name=source.name,
                plainTextPath=f"internal://{text_path(source)}",
                creationDateTime=created,
            )
        _selections(text_source, source, by_source.get(source.guid, []))
        _source_codings(text_source, source, whole.get(source.guid, []))


def _source_codings(
    parent: etree._Element, source: Source, codings: Sequence[SourceCoding]
) -> None:
    """One ``Coding`` of the whole source per code and user (after its selections)."""
    seen: set[tuple[str, str]] = set()
    for coding in codings:
        key = (coding.user_guid, coding.code_guid)
        if key in seen:
            continue
        seen.add(key)
        element = _element(
            parent,
            "Coding",
            guid=guid("source coding", source.guid, coding.user_guid, coding.code_guid),
            creatingUser=coding.user_guid,
            creationDateTime=_timestamp(coding.created) if coding.created else None,
        )
        _element(element, "CodeRef", targetGUID=coding.code_guid)


def _selections(parent: etree._Element, source: Source, segments: Sequence[Segment]) -> None:
    """One selection per passage and coder, coded with each of its codes."""
    passages: dict[tuple[int, int, str], list[Segment]] = {}
    for segment in segments:
        if not 0 <= segment.start <= segment.end <= len(source.text):
            raise ValueError(
                f"segment {segment.start}..{segment.end} is outside the text of {source.name!r}"
            )
        passages.setdefault((segment.start, segment.end, segment.user_guid), []).append(segment)
    for (start, end, user), coded in passages.items():
        created = min((s.created for s in coded if s.created is not None), default=None)
        when = _timestamp(created) if created else None
        quote = " ".join(source.text[start:end].split())
        if len(quote) > _NAME_LIMIT:
            quote = quote[: _NAME_LIMIT - 1] + "…"
        selection = _element(
            parent,
            "PlainTextSelection",
            guid=guid("selection", source.guid, start, end, user),
            name=quote,
            startPosition=str(start),
            endPosition=str(end),
            creatingUser=user,
            creationDateTime=when,
        )
        seen: set[str] = set()
        for segment in coded:
            if segment.code_guid in seen:
                continue
            seen.add(segment.code_guid)
            coding = _element(
                selection,
                "Coding",
                guid=guid("coding", source.guid, start, end, user, segment.code_guid),
                creatingUser=user,
                creationDateTime=when,
            )
            _element(coding, "CodeRef", targetGUID=segment.code_guid)


def codebook_xml(codes: Sequence[Code], *, origin: str = ORIGIN) -> bytes:
    """A ``.qdc`` codebook file of these codes, UTF-8."""
    if not codes:
        raise ValueError("a REFI-QDA codebook needs at least one code")
    root = etree.Element(f"{{{CODEBOOK_NAMESPACE}}}CodeBook", nsmap={None: CODEBOOK_NAMESPACE})
    root.set("origin", xml_safe(origin))
    _codes_element(root, codes)
    return _serialise(root)


def write_qdpx(project: Project, fileobj: IO[bytes]) -> None:
    """Write a ``.qdpx`` (a zip of ``project.qde`` and ``sources/``) to a binary file object.

    Original files given as paths are copied into the zip in chunks, not read whole.
    """
    document = project_xml(project)
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_entry(archive, "project.qde", document)
        for source in project.sources:
            _write_entry(archive, f"sources/{text_path(source)}", source.text.encode("utf-8"))
            if source.is_pdf and source.original is not None:
                _write_entry(archive, f"sources/{original_path(source)}", source.original)


def _write_entry(archive: zipfile.ZipFile, name: str, content: bytes | Path) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    if isinstance(content, bytes):
        archive.writestr(info, content)
        return
    info.file_size = os.path.getsize(content)
    with open(content, "rb") as source, archive.open(info, "w") as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)


# --- validation --------------------------------------------------------------------------


@functools.cache
def schema(which: Which) -> etree.XMLSchema:
    """The vendored REFI-QDA schema for a project or a codebook, loaded once."""
    path = SCHEMA_DIR / SCHEMA_FILES[which]
    if not path.is_file():
        raise SchemaMissing(f"the REFI-QDA {which} schema is not installed ({path})")
    return etree.XMLSchema(etree.parse(str(path)))


def validate(xml_bytes: bytes, which: Which = "project") -> None:
    """Check XML against the REFI-QDA schema; raise InvalidRefiQda with lxml's messages."""
    if which not in SCHEMA_FILES:
        raise ValueError(f"which must be one of {', '.join(SCHEMA_FILES)}")
    checker = schema(which)
    try:
        document = etree.fromstring(xml_bytes)
    except etree.XMLSyntaxError as error:
        raise InvalidRefiQda(which, [str(error)]) from None
    if not checker.validate(document):
        raise InvalidRefiQda(which, [f"line {e.line}: {e.message}" for e in checker.error_log])
