"""WTForms forms, including the coding form generated from a codebook."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import (
    DecimalField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .codebook import Codebook, Variable, VariableType
from .locales import LOCALES

FIELD_PREFIX = "v_"
YES, NO = "yes", "no"


def choices(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Choices for a select, radio or check-box field from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def choose_version(field: Any, versions: list[Any]) -> Any:
    """Offer codebook versions in a select field and return the one chosen.

    An unknown or missing choice falls back to the first version offered (the newest).
    Returns None when there is none.
    """
    field.choices = choices(
        (v.id, f"{v.codebook.slug} v{v.number} ({v.codebook.title})") for v in versions
    )
    version = next((v for v in versions if v.id == field.data), None)
    if version is None and versions:
        version = versions[0]
        field.data = version.id
    return version


class CheckboxesField(SelectMultipleField):
    """A set of options shown as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LabelFormBase(FlaskForm):
    """Fields every coding form has besides the codebook's variables."""

    revision = HiddenField()
    note = TextAreaField(_l("Note"))


def field_name(variable: Variable) -> str:
    """The form field of a variable (prefixed so that no id clashes with ``note`` or CSRF)."""
    return FIELD_PREFIX + variable.id


def variable_field(variable: Variable, lang: str) -> Field:
    """The field that enters a variable's value: the coding form's, and adjudication's."""
    label = variable.label.get(lang)
    optional = [Optional()]
    options = choices((option.code, option.label.get(lang)) for option in variable.options)
    match variable.type:
        case VariableType.SINGLE | VariableType.ORDINAL:
            return RadioField(label, choices=options, validators=optional)
        case VariableType.MULTIPLE:
            return CheckboxesField(label, choices=options, validators=optional)
        case VariableType.YESNO:
            return RadioField(
                label, choices=choices([(YES, _l("Yes")), (NO, _l("No"))]), validators=optional
            )
        case VariableType.NUMBER:
            # places=None shows the stored number as it is: the default rounds to two
            # places, so 2019 showed as "2019.00" and saving 0.125 again stored 0.12.
            return DecimalField(label, places=None, validators=optional)
        case _:
            return TextAreaField(label, validators=optional)


def label_form_class(codebook: Codebook, lang: str = "en") -> type[LabelFormBase]:
    """A form class with one field per variable of the codebook, in codebook order."""
    fields = {
        field_name(variable): variable_field(variable, lang) for variable in codebook.variables
    }
    return type("LabelForm", (LabelFormBase,), fields)


def value_to_form(variable: Variable, value: Any) -> Any:
    """A stored value in the shape the variable's field displays."""
    if value is None:
        return [] if variable.type is VariableType.MULTIPLE else None
    if variable.type is VariableType.YESNO:
        return YES if value else NO
    if variable.type is VariableType.NUMBER:
        return Decimal(str(value))
    return value


def form_to_value(variable: Variable, data: Any) -> Any:
    """What a field holds, as the codebook's value form (``None`` when empty)."""
    if data in (None, "", []):
        return None
    if variable.type is VariableType.YESNO:
        return data == YES
    if variable.type is VariableType.NUMBER:
        number = Decimal(data)
        return int(number) if number == number.to_integral_value() else float(number)
    if variable.type is VariableType.TEXT:
        return str(data).strip() or None
    return data


def form_values(form: LabelFormBase, codebook: Codebook) -> dict[str, Any]:
    """Every variable's value as entered in the form."""
    return {
        variable.id: form_to_value(variable, getattr(form, field_name(variable)).data)
        for variable in codebook.variables
    }


def fill_form(form: LabelFormBase, codebook: Codebook, values: dict[str, Any]) -> None:
    """Show stored values in a fresh form."""
    for variable in codebook.variables:
        getattr(form, field_name(variable)).data = value_to_form(variable, values.get(variable.id))


class EvidenceForm(FlaskForm):
    """A quoted passage to attach to a variable."""

    variable = SelectField(_l("Variable"), validators=[DataRequired()])
    # InputRequired, not DataRequired: page 0 is a wrong number, not a missing one.
    page = IntegerField(_l("Page"), validators=[InputRequired(), NumberRange(min=1)])
    quote = TextAreaField(_l("Quote"), validators=[DataRequired()])


class CodebookUploadForm(FlaskForm):
    """A codebook file to load."""

    file = FileField(_l("Codebook file (YAML)"), validators=[FileRequired()])


class DocumentUploadForm(FlaskForm):
    """Document files, and optionally their metadata CSV."""

    # MultipleFileField: a FileField keeps only the first of the files chosen.
    files = MultipleFileField(_l("Documents"), validators=[FileRequired()])
    metadata = FileField(_l("Metadata CSV (optional)"))


class UserForm(FlaskForm):
    """A new person."""

    username = StringField(_l("User name"), validators=[DataRequired()])
    display_name = StringField(_l("Display name"))
    role = SelectField(
        _l("Role"), choices=choices([("coder", _l("Coder")), ("pi", _l("PI (administrator)"))])
    )
    locale = SelectField(
        _l("Language"),
        choices=choices([("", _l("The browser's language")), *LOCALES.items()]),
        default="",
    )
    # A PasswordField: a form sent back with an error (a user name taken) must not carry
    # the password typed into it.
    password = PasswordField(_l("Password (leave empty to generate one)"))


class AdjudicatorForm(FlaskForm):
    """Give a coder the adjudicator right, or take it back (the People page)."""

    class Meta:
        # The app's CSRFProtect checks every POST before the view runs; a per-form token
        # field would repeat the id "csrf_token" once per person on the page.
        csrf = False

    username = HiddenField(validators=[DataRequired()])
    allowed = HiddenField(validators=[AnyOf(["0", "1"])])


class AssignRuleForm(FlaskForm):
    """The assignment rule: every document to one coder plus a reliability sample."""

    codebook = SelectField(_l("Codebook"), validators=[DataRequired()])
    sample = StringField(_l("Reliability sample (N%, or N documents)"), default="20%")
    coders_per_document = IntegerField(
        _l("Coders per reliability document"), default=2, validators=[NumberRange(min=2)]
    )
    # The seed is stored in a 32-bit integer column (drawn seeds are below 2**31).
    seed = IntegerField(
        _l("Seed (empty: drawn at random and recorded)"),
        validators=[Optional(), NumberRange(min=0, max=2**31 - 1)],
    )


class AssignManualForm(FlaskForm):
    """One document to one coder."""

    codebook = SelectField(_l("Codebook"), validators=[DataRequired()])
    document = SelectField(_l("Document"), coerce=int)
    coder = SelectField(_l("Coder"), coerce=int)
