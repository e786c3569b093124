"""Codebooks: the variables a coder fills in for each document, read from YAML.

A codebook is configuration written by the principal investigator. This module reads it, reports
every mistake in it with a line number, turns it into frozen dataclasses, and checks and
normalises the values coders give. It imports no Flask or SQLAlchemy, so scripts, the web app and
tests all use the same rules. The file format is described in ``docs/codebook.md``.
"""

from __future__ import annotations

import decimal
import difflib
import enum
import hashlib
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .messages import Message

__all__ = [
    "Codebook",
    "CodebookError",
    "Keyword",
    "LocalizedText",
    "Option",
    "Problem",
    "Variable",
    "VariableType",
    "load_codebook",
    "parse_codebook",
]


class VariableType(enum.StrEnum):
    """The kinds of variable a codebook can declare."""

    SINGLE = "single"
    ORDINAL = "ordinal"
    MULTIPLE = "multiple"
    NUMBER = "number"
    YESNO = "yesno"
    TEXT = "text"

    @property
    def takes_options(self) -> bool:
        """Whether variables of this type choose among declared options."""
        return self in _CHOICE_TYPES

    @property
    def default_level(self) -> str:
        """The measurement level used for reliability when the codebook does not declare one."""
        return _DEFAULT_LEVELS[self]


_CHOICE_TYPES = frozenset({VariableType.SINGLE, VariableType.ORDINAL, VariableType.MULTIPLE})
_DEFAULT_LEVELS = {
    VariableType.SINGLE: "nominal",
    VariableType.ORDINAL: "ordinal",
    # Sets of codes are compared with the MASI distance (Passonneau 2006) in Krippendorff's alpha.
    VariableType.MULTIPLE: "masi",
    VariableType.NUMBER: "ratio",
    VariableType.YESNO: "nominal",
    VariableType.TEXT: "nominal",
}
NUMBER_LEVELS = ("interval", "ratio")


@dataclass(frozen=True)
class LocalizedText:
    """A piece of codebook text in English, optionally with a Chinese version."""

    en: str
    zh: str | None = None

    LANGUAGES: ClassVar[tuple[str, ...]] = ("en", "zh")

    def get(self, lang: str = "en") -> str:
        """Return the text in ``lang`` ("zh", "zh-CN", "en" ...), falling back to the other one."""
        primary = lang.replace("_", "-").split("-", 1)[0].lower()
        if primary == "zh":
            return self.zh or self.en
        return self.en or self.zh or ""

    def __str__(self) -> str:
        return self.en

    def to_data(self) -> str | dict[str, str]:
        """Return the YAML/JSON form: a plain string, or ``{"en": ..., "zh": ...}``."""
        if self.zh is None:
            return self.en
        return {"en": self.en, "zh": self.zh}


def _text_data(text: LocalizedText | None) -> str | dict[str, str] | None:
    return None if text is None else text.to_data()


@dataclass(frozen=True)
class Option:
    """One answer a coder can choose for a single, ordinal or multiple variable."""

    code: str
    label: LocalizedText
    definition: LocalizedText | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the option as JSON-able data in the codebook file format."""
        return {
            "code": self.code,
            "label": self.label.to_data(),
            "definition": _text_data(self.definition),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "examples": list(self.examples),
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True)
class Variable:
    """A question the coder answers for each document.

    Values are plain JSON-able data: an option code (str) for single and ordinal, a list of codes
    for multiple, an int or float for number, a bool for yesno, a str for text, and None for
    missing.
    """

    id: str
    label: LocalizedText
    description: LocalizedText | None
    type: VariableType
    required: bool = False
    group: str | None = None
    options: tuple[Option, ...] = ()
    # Measurement level for reliability: nominal, ordinal, masi (multiple), interval or ratio.
    level: str = ""
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: object.__setattr__ is the documented way to finish initialisation.
        object.__setattr__(self, "type", VariableType(self.type))
        if not self.level:
            object.__setattr__(self, "level", self.type.default_level)

    @property
    def codes(self) -> tuple[str, ...]:
        """The option codes in codebook order."""
        return tuple(option.code for option in self.options)

    def option(self, code: object) -> Option | None:
        """Return the option with this code, or None."""
        for option in self.options:
            if option.code == code:
                return option
        return None

    def display_value(self, value: object, lang: str = "en") -> str:
        """Return a value as a coder reads it: option labels, yes/no, "" for missing.

        A value the variable accepts is shown in its normalised form ("2019" as 2019); any
        other value is shown as it is, never hidden.
        """
        normalized, error = self._normalize(value)
        if error is None:
            value = normalized
        if value is None or value == [] or value == "":
            return ""
        if isinstance(value, bool):
            return (
                ("是" if value else "否") if lang.startswith("zh") else ("yes" if value else "no")
            )
        if isinstance(value, list | tuple):
            return "; ".join(self.display_value(item, lang) for item in value)
        option = self.option(value) if self.options else None
        if option is not None:
            return option.label.get(lang)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def check_value(self, value: object) -> str | None:
        """Return None if ``value`` is acceptable (None, meaning missing, is), else a message."""
        return self._normalize(value)[1]

    def normalize_value(self, value: object) -> object:
        """Return the canonical form of ``value``; raise ValueError if check_value rejects it.

        Multiple codes come back as a list in option order without duplicates, whole numbers as
        int, text stripped; "", blank text and an empty list become None (missing).
        """
        normalized, error = self._normalize(value)
        if error is not None:
            raise ValueError(error)
        return normalized

    def to_dict(self) -> dict[str, Any]:
        """Return the variable as JSON-able data in the codebook file format."""
        data: dict[str, Any] = {
            "id": self.id,
            "label": self.label.to_data(),
            "description": _text_data(self.description),
            "type": self.type.value,
            "required": self.required,
            "group": self.group,
            "level": self.level,
        }
        if self.type.takes_options:
            data["options"] = [option.to_dict() for option in self.options]
        if self.type is VariableType.NUMBER:
            data["min"] = self.minimum
            data["max"] = self.maximum
            data["unit"] = self.unit
        return data

    def _normalize(self, value: object) -> tuple[object, str | None]:
        if value is None:
            return None, None
        if self.type in (VariableType.SINGLE, VariableType.ORDINAL):
            return self._normalize_code(value)
        if self.type is VariableType.MULTIPLE:
            return self._normalize_codes(value)
        if self.type is VariableType.NUMBER:
            return self._normalize_number(value)
        if self.type is VariableType.YESNO:
            return _normalize_yesno(value)
        if isinstance(value, str):
            return (value.strip() or None), None
        return None, Message("expected text, got %(value)s", value=_describe_value(value))

    def _normalize_code(self, value: object) -> tuple[object, str | None]:
        code = _code_of(value)
        if code is None:
            return None, Message(
                "expected an option code, got %(value)s", value=_describe_value(value)
            )
        if not code:
            return None, None
        if self.option(code) is None:
            return None, Message(
                "unknown option code %(code)s (codes: %(codes)s)",
                code=_quote(code),
                codes=", ".join(self.codes),
            )
        return code, None

    def _normalize_codes(self, value: object) -> tuple[object, str | None]:
        if not isinstance(value, list | tuple | set | frozenset):
            return None, Message(
                "expected a list of option codes, got %(value)s", value=_describe_value(value)
            )
        chosen: set[str] = set()
        unknown: list[str] = []
        for item in value:
            code = _code_of(item)
            if not code:
                return None, Message(
                    "expected option codes, got %(value)s in the list", value=_describe_value(item)
                )
            if self.option(code) is None:
                if code not in unknown:
                    unknown.append(code)
            else:
                chosen.add(code)
        if unknown:
            listed, codes = ", ".join(_quote(code) for code in unknown), ", ".join(self.codes)
            if len(unknown) == 1:
                return None, Message(
                    "unknown option code %(code)s (codes: %(codes)s)", code=listed, codes=codes
                )
            return None, Message(
                "unknown option codes %(listed)s (codes: %(codes)s)", listed=listed, codes=codes
            )
        # An empty selection counts as missing: codebooks that need "none of these" say so with
        # an explicit option, which keeps "not yet coded" and "coded as none" apart.
        return ([code for code in self.codes if code in chosen] or None), None

    def _normalize_number(self, value: object) -> tuple[object, str | None]:
        if isinstance(value, bool):
            return None, Message("expected a number, got %(value)s", value=_describe_value(value))
        number: int | float
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None, None
            try:
                number = int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    return None, Message("%(text)s is not a number", text=_quote(text))
        elif isinstance(value, numbers.Integral):
            number = int(value)
        elif isinstance(value, numbers.Real | decimal.Decimal):
            try:
                number = float(value)
            except ValueError:  # Decimal("sNaN") refuses conversion
                number = math.nan
        else:
            return None, Message("expected a number, got %(value)s", value=_describe_value(value))
        if isinstance(number, float) and not math.isfinite(number):
            return None, Message(
                "expected a finite number, got %(value)s", value=_quote(str(value).strip())
            )
        number = _whole(number)
        if self.minimum is not None and number < self.minimum:
            return None, Message(
                "%(number)s is below the minimum of %(minimum)s",
                number=number,
                minimum=_whole(self.minimum),
            )
        if self.maximum is not None and number > self.maximum:
            return None, Message(
                "%(number)s is above the maximum of %(maximum)s",
                number=number,
                maximum=_whole(self.maximum),
            )
        return number, None


_YES = frozenset({"yes", "true", "y", "是"})
_NO = frozenset({"no", "false", "n", "否"})


def _normalize_yesno(value: object) -> tuple[object, str | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None, None
        if text in _YES:
            return True, None
        if text in _NO:
            return False, None
    return None, Message(
        "expected yes or no (true or false), got %(value)s", value=_describe_value(value)
    )


def _code_of(value: object) -> str | None:
    """Return ``value`` as a stripped option code, or None if it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _whole(number: float) -> int | float:
    """Return whole numbers as int so that 3, 3.0 and "3" compare, export and hash alike."""
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def _quote(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _describe_value(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"{value} (true/false)"
    if isinstance(value, str):
        return _quote(value) if value else "an empty string"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    return f"a value of type {type(value).__name__}"


class Keyword(NamedTuple):
    """An option keyword: a word in a document that suggests the option may apply."""

    keyword: str
    variable: str
    option: str
    variable_label: str
    option_label: str


@dataclass(frozen=True)
class Codebook:
    """A codebook: its title and the variables coded for every document, in order."""

    id: str
    title: LocalizedText
    description: LocalizedText | None = None
    variables: tuple[Variable, ...] = ()

    @cached_property
    def _by_id(self) -> dict[str, Variable]:
        return {variable.id: variable for variable in self.variables}

    @property
    def groups(self) -> tuple[str, ...]:
        """Group names in the order they first appear among the variables."""
        return tuple(dict.fromkeys(v.group for v in self.variables if v.group is not None))

    def variables_in(self, group: str | None) -> tuple[Variable, ...]:
        """Return the variables of ``group`` (None: those without a group), in codebook order."""
        return tuple(v for v in self.variables if v.group == group)

    def keywords(self, lang: str = "en") -> list[Keyword]:
        """Every option keyword with the variable and option it indicates, in codebook order.

        The coding page highlights these in the document. A keyword listed by several options
        (the same word can indicate a service and an integration depth) comes once per option.
        """
        return [
            Keyword(
                keyword, variable.id, option.code, variable.label.get(lang), option.label.get(lang)
            )
            for variable in self.variables
            for option in variable.options
            for keyword in dict.fromkeys(k.strip() for k in option.keywords)
            if keyword
        ]

    def variable(self, id: str) -> Variable:
        """Return the variable with this id; raise KeyError if there is none."""
        try:
            return self._by_id[id]
        except KeyError:
            raise KeyError(f"codebook {self.id!r} has no variable {id!r}") from None

    def missing_required(self, values: Mapping[str, object]) -> list[str]:
        """Return the ids of required variables that ``values`` leaves missing, in order."""
        return [v.id for v in self.variables if v.required and _is_blank(values.get(v.id))]

    def differences(
        self, mine: Mapping[str, object], theirs: Mapping[str, object]
    ) -> list[Variable]:
        """Return the variables of ``mine`` whose value differs from ``theirs``, in order.

        Values are compared in their normalised form, so "2019" and 2019 or a reordered list
        of codes are the same; a value that does not normalise differs from everything.
        """

        def canonical(variable: Variable, value: object) -> object:
            normalized, error = variable._normalize(value)
            return ("invalid", repr(value)) if error is not None else normalized

        return [
            variable
            for variable in self.variables
            if variable.id in mine
            and canonical(variable, mine[variable.id])
            != canonical(variable, theirs.get(variable.id))
        ]

    def check_values(self, values: Mapping[str, object]) -> dict[str, str]:
        """Return a message for each invalid value in ``values``, keyed by variable id.

        Ids that are not variables of this codebook are reported too; missing required values
        are not (see missing_required).
        """
        problems: dict[str, str] = {}
        for id, value in values.items():
            variable = self._by_id.get(id)
            if variable is None:
                problems[id] = f"{id!r} is not a variable of codebook {self.id!r}"
            else:
                message = variable.check_value(value)
                if message is not None:
                    problems[id] = message
        return problems

    def normalize_values(self, values: Mapping[str, object]) -> dict[str, object]:
        """Return ``values`` normalised variable by variable; raise ValueError if any is invalid."""
        problems = self.check_values(values)
        if problems:
            raise ValueError("; ".join(f"{id}: {message}" for id, message in problems.items()))
        return {id: self._by_id[id].normalize_value(value) for id, value in values.items()}

    def to_dict(self) -> dict[str, Any]:
        """Return the codebook as JSON-able data that from_dict (and the YAML reader) accept."""
        return {
            "id": self.id,
            "title": self.title.to_data(),
            "description": _text_data(self.description),
            "variables": [variable.to_dict() for variable in self.variables],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Codebook:
        """Build a codebook from to_dict-style data, checked like a file; raise CodebookError."""
        filename = "<dict>"
        try:
            root = _DataNodes().node(data)
        except RecursionError:
            raise CodebookError(
                [Problem(filename, None, "the data is nested too deeply")]
            ) from None
        return _Checker(filename).check(root)

    def fingerprint(self) -> str:
        """Return the SHA-256 of the codebook's canonical JSON: same content, same fingerprint."""
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return not value
    return False


@dataclass(frozen=True)
class Problem:
    """One mistake found in a codebook file."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class CodebookError(Exception):
    """A codebook could not be read; ``problems`` lists every mistake found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def load_codebook(path: str | os.PathLike[str]) -> Codebook:
    """Read a UTF-8 codebook file and parse it; raise CodebookError if it cannot be used."""
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as file:
            data = file.read()
    except OSError as error:
        raise CodebookError([Problem(filename, None, f"cannot read file: {error}")]) from None
    try:
        # utf-8-sig: editors on Windows often save UTF-8 with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = (
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        )
        raise CodebookError([Problem(filename, line, message)]) from None
    return parse_codebook(text, filename)


def parse_codebook(text: str, filename: str = "<codebook>") -> Codebook:
    """Parse and check codebook YAML; raise CodebookError listing every problem found."""
    return _Checker(filename).check(_compose(text, filename))


def _compose(text: str, filename: str) -> Node | None:
    """Return the YAML node tree (which keeps line numbers), or raise CodebookError."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise CodebookError([_syntax_problem(error, text, filename)]) from None
    except RecursionError:
        raise CodebookError([Problem(filename, None, "the file is nested too deeply")]) from None


def _syntax_problem(error: yaml.YAMLError, text: str, filename: str) -> Problem:
    """Describe a YAML syntax error in one line, at the line where the reader stopped."""
    if isinstance(error, yaml.reader.ReaderError):
        reader_line = text.count("\n", 0, error.position) + 1
        message = f"invalid character #x{error.character:04x} in the file: {error.reason}"
        return Problem(filename, reader_line, message)
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(filename, None, f"invalid YAML: {error}")
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    context = error.context
    if context and error.context_mark is not None and error.context_mark.line + 1 != line:
        # An unclosed quote or bracket is reported where the file ends; say where it began.
        context += f" (from line {error.context_mark.line + 1})"
    parts = [part for part in (context, error.problem) if part]
    column = f" at column {mark.column + 1}" if mark is not None else ""
    message = f"invalid YAML{column}: " + ", ".join(parts)
    if "'\\t'" in message:
        message += " (indent with spaces: YAML does not allow tabs)"
    return Problem(filename, line, message)


# --- Checking the node tree -------------------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
_MERGE = _TAG + "merge"
_MAP, _SEQ = _TAG + "map", _TAG + "seq"

_CODEBOOK_KEYS = ("id", "title", "description", "variables")
_VARIABLE_KEYS = (
    "id",
    "label",
    "description",
    "type",
    "required",
    "group",
    "options",
    "level",
    "min",
    "max",
    "unit",
)
_OPTION_KEYS = ("code", "label", "definition", "include", "exclude", "examples", "keywords")
_NUMBER_KEYS = ("min", "max", "unit")

_SLUG = re.compile(r"[a-z0-9_]+")
# Codes end up in CSV cells, joined lists and column names, so no spaces or separators.
_CODE = re.compile(r"[\w.\-]+")

# Names people reach for from survey and spreadsheet tools.
_TYPE_HINTS = {
    "bool": "yesno",
    "boolean": "yesno",
    "yes/no": "yesno",
    "checkbox": "multiple",
    "checkboxes": "multiple",
    "multi": "multiple",
    "select": "single",
    "radio": "single",
    "nominal": "single",
    "categorical": "single",
    "likert": "ordinal",
    "scale": "ordinal",
    "int": "number",
    "integer": "number",
    "float": "number",
    "numeric": "number",
    "string": "text",
    "str": "text",
    "textarea": "text",
}


class _DataScalar(ScalarNode):
    """A scalar node built from Python data, carrying the Python value it came from."""

    def __init__(self, tag: str, value: str, data: object) -> None:
        super().__init__(tag, value, None, None)
        self.data = data


class _DataNodes:
    """Turns plain Python data into YAML nodes so from_dict runs the same checks as files."""

    def __init__(self) -> None:
        # Shared or self-referencing containers become shared nodes, as YAML aliases do.
        self._made: dict[int, Node] = {}

    def node(self, data: object) -> Node:
        if isinstance(data, Mapping | list | tuple) and id(data) in self._made:
            return self._made[id(data)]
        if isinstance(data, Mapping):
            mapping = MappingNode(_MAP, [], None, None)
            self._made[id(data)] = mapping
            mapping.value = [(self.node(key), self.node(value)) for key, value in data.items()]
            return mapping
        if isinstance(data, list | tuple):
            sequence = SequenceNode(_SEQ, [], None, None)
            self._made[id(data)] = sequence
            sequence.value = [self.node(item) for item in data]
            return sequence
        if data is None:
            return _DataScalar(_NULL, "", None)
        if isinstance(data, bool):
            return _DataScalar(_BOOL, str(data).lower(), data)
        if isinstance(data, int):
            return _DataScalar(_INT, str(data), data)
        if isinstance(data, float):
            return _DataScalar(_FLOAT, repr(data), data)
        if isinstance(data, str):
            return _DataScalar(_STR, data, data)
        return _DataScalar("!python", f"a value of type {type(data).__name__}", data)


class _Fields:
    """The keys of one mapping node, with the nodes needed to report problems on them."""

    def __init__(self, node: MappingNode, pairs: dict[str, tuple[Node, Node]]) -> None:
        self.node = node
        self.pairs = pairs

    def get(self, key: str) -> Node | None:
        pair = self.pairs.get(key)
        return None if pair is None else pair[1]

    def key(self, key: str) -> Node:
        """Return the node of ``key`` itself if present, else the mapping (for line numbers)."""
        pair = self.pairs.get(key)
        return self.node if pair is None else pair[0]

    def given(self, key: str) -> Node | None:
        """Return the value node of ``key`` unless it is absent or null."""
        node = self.get(key)
        return None if node is None or _is_null(node) else node


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    if node.tag == "!python":
        return str(node.value)
    if node.tag == _STR:
        return _quote(node.value) if node.value else "an empty string"
    return str(node.value)


def _where(context: str, message: str) -> str:
    return f"{context}: {message}" if context else message


class _Checker:
    """Walks a codebook's node tree, collecting every problem before giving up."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._constructor = SafeConstructor()

    def report(self, node: Node | None, context: str, message: str) -> None:
        mark = None if node is None else node.start_mark
        line = None if mark is None else mark.line + 1
        self.problems.append(Problem(self.filename, line, _where(context, message)))

    def check(self, root: Node | None) -> Codebook:
        codebook = self.codebook(root)
        if self.problems or codebook is None:
            unique = list(dict.fromkeys(self.problems))
            # Stable sort: problems on the same line keep the order they were found in.
            unique.sort(key=lambda problem: problem.line or 0)
            raise CodebookError(unique)
        return codebook

    # Structure ------------------------------------------------------------------------------

    def fields(self, node: Node, context: str, allowed: tuple[str, ...]) -> _Fields | None:
        """Return the keys of a mapping node, reporting duplicate and unknown keys."""
        if not isinstance(node, MappingNode):
            self.report(node, context, f"expected a mapping of keys, found {_describe(node)}")
            return None
        pairs = self._pairs(node, context, frozenset({id(node)}))
        for key, (key_node, _value) in pairs.items():
            if key not in allowed:
                self.report(key_node, context, _unknown_key(key, allowed))
        return _Fields(node, pairs)

    def _pairs(
        self, node: MappingNode, context: str, seen: frozenset[int]
    ) -> dict[str, tuple[Node, Node]]:
        pairs: dict[str, tuple[Node, Node]] = {}
        merged: list[tuple[str, tuple[Node, Node]]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merged(value_node, context, seen))
                continue
            if not isinstance(key_node, ScalarNode):
                self.report(
                    key_node, context, f"a key must be plain text, found {_describe(key_node)}"
                )
                continue
            key = str(key_node.value)
            if key in pairs:
                first = pairs[key][0].start_mark
                where = f" (first on line {first.line + 1})" if first is not None else ""
                self.report(
                    key_node,
                    context,
                    f"duplicate key '{key}'{where}: YAML would keep only the last",
                )
            pairs[key] = (key_node, value_node)
        # YAML merge keys (<<: *anchor) supply defaults: explicit keys win, earlier merges win.
        for key, pair in merged:
            pairs.setdefault(key, pair)
        return pairs

    def _merged(
        self, value: Node, context: str, seen: frozenset[int]
    ) -> list[tuple[str, tuple[Node, Node]]]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        result: list[tuple[str, tuple[Node, Node]]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self.report(source, context, "'<<' must merge a mapping or a list of mappings")
            elif id(source) in seen:
                self.report(source, context, "'<<' merges a mapping into itself")
            else:
                result.extend(self._pairs(source, context, seen | {id(source)}).items())
        return result

    # Scalars --------------------------------------------------------------------------------

    def string(self, fields: _Fields, key: str, context: str, required: bool = False) -> str | None:
        """Return a stripped one-line value such as an id, a type or a group name."""
        node = fields.get(key)
        if node is None:
            if required:
                self.report(fields.node, context, f"missing '{key}'")
            return None
        if not isinstance(node, ScalarNode) or node.tag == "!python":
            self.report(node, context, f"'{key}' must be text, found {_describe(node)}")
            return None
        value = "" if node.tag == _NULL else str(node.value).strip()
        if not value:
            if required or node.tag != _NULL:
                self.report(node, context, f"'{key}' is empty")
            return None
        return value

    def text(
        self, fields: _Fields, key: str, context: str, required: bool = False
    ) -> LocalizedText | None:
        """Return a text that is either a plain string or a mapping ``{en: ..., zh: ...}``."""
        node = fields.get(key)
        if isinstance(node, MappingNode):
            languages = self.fields(node, _where(context, f"'{key}'"), LocalizedText.LANGUAGES)
            if languages is None:
                return None
            en = self.string(languages, "en", _where(context, f"'{key}'"), required=True)
            zh = self.string(languages, "zh", _where(context, f"'{key}'"))
            return None if en is None else LocalizedText(en, zh)
        if isinstance(node, SequenceNode):
            self.report(
                node,
                context,
                f"'{key}' must be text or a mapping like {{en: ..., zh: ...}}, found a list",
            )
            return None
        value = self.string(fields, key, context, required)
        # YAML reads a bare `No` or `2020` as a bool or a number; in a text field the author
        # meant the words as written, so the scalar's source text is used whatever its type.
        return None if value is None else LocalizedText(value)

    def text_list(self, fields: _Fields, key: str, context: str) -> tuple[str, ...]:
        node = fields.given(key)
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            self.report(
                node,
                context,
                f"'{key}' must be a list of text, found {_describe(node)} "
                "(put each item on its own line, starting with '- ')",
            )
            return ()
        items = []
        for item in node.value:
            if not isinstance(item, ScalarNode) or item.tag in (_NULL, "!python"):
                self.report(
                    item, context, f"each item of '{key}' must be text, found {_describe(item)}"
                )
            elif not str(item.value).strip():
                self.report(item, context, f"'{key}' has an empty item")
            else:
                items.append(str(item.value).strip())
        return tuple(items)

    def boolean(self, fields: _Fields, key: str, context: str) -> bool:
        node = fields.given(key)
        if node is None:
            return False
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            if isinstance(node, _DataScalar):
                return bool(node.data)
            return bool(SafeConstructor.bool_values[str(node.value).lower()])
        self.report(node, context, f"'{key}' must be true or false, found {_describe(node)}")
        return False

    def number(self, fields: _Fields, key: str, context: str) -> int | float | None:
        node = fields.given(key)
        if node is None:
            return None
        if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT):
            try:
                if isinstance(node, _DataScalar):
                    value = node.data
                else:
                    value = self._constructor.construct_object(node)
            except (ValueError, ArithmeticError, yaml.YAMLError):
                value = None
            if isinstance(value, int | float) and math.isfinite(value):
                return _whole(value)
            self.report(node, context, f"'{key}' must be a finite number, found {_describe(node)}")
            return None
        self.report(node, context, f"'{key}' must be a number, found {_describe(node)}")
        return None

    # The codebook ---------------------------------------------------------------------------

    def codebook(self, root: Node | None) -> Codebook | None:
        if root is None or _is_null(root):
            self.report(None, "", "the codebook is empty: it needs 'id', 'title' and 'variables'")
            return None
        if not isinstance(root, MappingNode):
            self.report(
                root,
                "",
                f"the codebook must be a mapping with 'id', 'title' and 'variables', "
                f"found {_describe(root)}",
            )
            return None
        fields = self.fields(root, "", _CODEBOOK_KEYS)
        assert fields is not None  # root is a mapping
        codebook_id = self.slug(fields, "codebook")
        title = self.text(fields, "title", "", required=True)
        description = self.text(fields, "description", "")
        variables = self.variables(fields)
        if codebook_id is None or title is None or variables is None:
            return None
        return Codebook(codebook_id, title, description, variables)

    def slug(self, fields: _Fields, what: str, context: str = "") -> str | None:
        value = self.string(fields, "id", context, required=True)
        if value is None:
            return None
        if not _SLUG.fullmatch(value):
            suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
            hint = f" (e.g. '{suggestion}')" if suggestion else ""
            self.report(
                fields.get("id"),
                context,
                f"{what} id {_quote(value)} may contain only lowercase letters, digits and "
                f"underscores{hint}",
            )
            return None
        return value

    def variables(self, fields: _Fields) -> tuple[Variable, ...] | None:
        node = fields.get("variables")
        if node is None:
            self.report(fields.node, "", "missing 'variables'")
            return None
        if not isinstance(node, SequenceNode):
            self.report(node, "", f"'variables' must be a list, found {_describe(node)}")
            return None
        if not node.value:
            self.report(
                fields.key("variables"),
                "",
                "'variables' is empty: a codebook needs at least one variable",
            )
            return None
        variables: list[Variable] = []
        first_seen: dict[str, tuple[int, Node]] = {}
        complete = True
        for position, item in enumerate(node.value, start=1):
            variable_id, variable = self.variable(item, position)
            if variable_id is not None and variable_id in first_seen:
                first_position, first_node = first_seen[variable_id]
                self.report(
                    item,
                    "",
                    f"duplicate variable id '{variable_id}' "
                    f"(first used {_first_use(first_node, 'variable', first_position)})",
                )
                complete = False
            elif variable_id is not None:
                first_seen[variable_id] = (position, item)
            if variable is None:
                complete = False
            else:
                variables.append(variable)
        return tuple(variables) if complete else None

    def variable(self, node: Node, position: int) -> tuple[str | None, Variable | None]:
        """Return the variable's id (for duplicate checks) and the variable if it is valid."""
        # Messages name the variable by its id whenever it has a usable one, even for problems
        # found before the id itself is checked, so every message about it reads the same.
        peeked = _peek(node, "id", _SLUG)
        context = f"variable '{peeked}'" if peeked else f"variable {position}"
        fields = self.fields(node, context, _VARIABLE_KEYS)
        if fields is None:
            return None, None
        variable_id = self.slug(fields, "variable", context)
        label = self.text(fields, "label", context, required=True)
        description = self.text(fields, "description", context)
        variable_type = self.variable_type(fields, context)
        required = self.boolean(fields, "required", context)
        group = self.string(fields, "group", context)
        options = self.options(fields, variable_type, context)
        level = self.level(fields, variable_type, context)
        minimum = maximum = None
        unit = None
        if variable_type is VariableType.NUMBER:
            minimum = self.number(fields, "min", context)
            maximum = self.number(fields, "max", context)
            unit = self.string(fields, "unit", context)
            if minimum is not None and maximum is not None and minimum > maximum:
                self.report(
                    fields.get("max"), context, f"min ({minimum}) is greater than max ({maximum})"
                )
                return variable_id, None
        elif variable_type is not None:
            for key in _NUMBER_KEYS:
                if fields.given(key) is not None:
                    self.report(
                        fields.key(key),
                        context,
                        f"'{key}' applies only to number variables, not {variable_type}",
                    )
        if (
            variable_id is None
            or label is None
            or variable_type is None
            or options is None
            or level is None
        ):
            return variable_id, None
        return variable_id, Variable(
            id=variable_id,
            label=label,
            description=description,
            type=variable_type,
            required=required,
            group=group,
            options=options,
            level=level,
            minimum=minimum,
            maximum=maximum,
            unit=unit,
        )

    def variable_type(self, fields: _Fields, context: str) -> VariableType | None:
        value = self.string(fields, "type", context, required=True)
        if value is None:
            return None
        try:
            return VariableType(value)
        except ValueError:
            pass
        allowed = [t.value for t in VariableType]
        guess = _TYPE_HINTS.get(value.lower()) or next(
            iter(difflib.get_close_matches(value.lower(), allowed, n=1)), None
        )
        hint = f" (did you mean '{guess}'?)" if guess else ""
        self.report(
            fields.get("type"),
            context,
            f"unknown type {_quote(value)}{hint}; allowed types: {', '.join(allowed)}",
        )
        return None

    def level(
        self, fields: _Fields, variable_type: VariableType | None, context: str
    ) -> str | None:
        declared = self.string(fields, "level", context)
        if variable_type is None:
            return None
        if variable_type is VariableType.NUMBER:
            if declared is None:
                return variable_type.default_level
            if declared in NUMBER_LEVELS:
                return declared
            self.report(
                fields.get("level"),
                context,
                "level must be 'interval' or 'ratio' for a number variable, "
                f"found {_quote(declared)}",
            )
            return None
        # Other types have one fixed level; declaring it is allowed so that to_dict output,
        # which states every level, reads back unchanged.
        if declared is not None and declared != variable_type.default_level:
            self.report(
                fields.get("level"),
                context,
                f"level {_quote(declared)} does not apply: {variable_type} variables are "
                f"{variable_type.default_level} (only number variables declare a level)",
            )
            return None
        return variable_type.default_level

    def options(
        self, fields: _Fields, variable_type: VariableType | None, context: str
    ) -> tuple[Option, ...] | None:
        node = fields.given("options")
        if variable_type is not None and not variable_type.takes_options:
            if node is not None:
                self.report(
                    fields.key("options"),
                    context,
                    f"a {variable_type} variable takes no options; remove 'options'",
                )
                return None
            return ()
        if node is not None and not isinstance(node, SequenceNode):
            self.report(node, context, f"'options' must be a list, found {_describe(node)}")
            return None
        items = [] if node is None else node.value
        needed = 2 if variable_type is VariableType.ORDINAL else 1
        if variable_type is not None and len(items) < needed:
            plural = "s" if needed > 1 else ""
            self.report(
                fields.key("options"),
                context,
                f"{variable_type} needs at least {needed} option{plural}, found {len(items)}",
            )
        options: list[Option] = []
        first_seen: dict[str, tuple[int, Node]] = {}
        complete = True
        for position, item in enumerate(items, start=1):
            code, option = self.option(item, context, position)
            if code is not None and code in first_seen:
                first_position, first_node = first_seen[code]
                self.report(
                    item,
                    context,
                    f"duplicate option code '{code}' "
                    f"(first used {_first_use(first_node, 'option', first_position)})",
                )
                complete = False
            elif code is not None:
                first_seen[code] = (position, item)
            if option is None:
                complete = False
            else:
                options.append(option)
        if variable_type is None or not complete or len(items) < needed:
            return None
        return tuple(options)

    def option(
        self, node: Node, variable_context: str, position: int
    ) -> tuple[str | None, Option | None]:
        """Return the option's code (for duplicate checks) and the option if it is valid."""
        peeked = _peek(node, "code", _CODE)
        where = f"'{peeked}'" if peeked else str(position)
        context = f"{variable_context}, option {where}"
        fields = self.fields(node, context, _OPTION_KEYS)
        if fields is None:
            return None, None
        code = self.code(fields, context)
        label = self.text(fields, "label", context, required=True)
        definition = self.text(fields, "definition", context)
        include = self.text_list(fields, "include", context)
        exclude = self.text_list(fields, "exclude", context)
        examples = self.text_list(fields, "examples", context)
        keywords = self.text_list(fields, "keywords", context)
        if code is None or label is None:
            return code, None
        return code, Option(code, label, definition, include, exclude, examples, keywords)

    def code(self, fields: _Fields, context: str) -> str | None:
        node = fields.get("code")
        if node is None:
            self.report(fields.node, context, "missing 'code'")
            return None
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            # YAML 1.1 reads yes/no/on/off as booleans, a classic surprise in option lists.
            self.report(
                node,
                context,
                f"option code {node.value} reads as true/false; put it in quotes: "
                f'code: "{node.value}"',
            )
            return None
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT, _NULL):
            self.report(
                node, context, f"'code' must be text or a whole number, found {_describe(node)}"
            )
            return None
        code = self.string(fields, "code", context, required=True)
        if code is None:
            return None
        if not _CODE.fullmatch(code):
            self.report(
                node,
                context,
                f"option code {_quote(code)} may contain only letters, digits, '_', '-' and '.'",
            )
            return None
        return code


def _peek(node: Node, key: str, pattern: re.Pattern[str]) -> str | None:
    """Return the value of ``key`` in a mapping node if it is text matching ``pattern``."""
    found = None
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == key
                and isinstance(value_node, ScalarNode)
                and value_node.tag in (_STR, _INT)
            ):
                # The last occurrence, because that is the one YAML keeps.
                text = str(value_node.value).strip()
                found = text if pattern.fullmatch(text) else None
    return found


def _first_use(node: Node, what: str, position: int) -> str:
    mark = node.start_mark
    return f"on line {mark.line + 1}" if mark is not None else f"by {what} {position}"


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key {_quote(key)} (allowed: {', '.join(allowed)})"
