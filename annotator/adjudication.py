"""Adjudication pages: the documents to adjudicate, and one document's values side by side.

The PI, and a coder given the adjudicator right (given on the People page, ``admin``),
decide each variable's final value: a coder's value or one entered in the variable's own
field, as on the coding form, with a note; the document is shown beside the comparison. A
coder never adjudicates a document they code (``services.adjudication.may_adjudicate``):
the page answers 403.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import Field, Form, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from .codebook import Variable
from .documents import document_html
from .extensions import db
from .forms import choices, form_to_value, value_to_form, variable_field
from .i18n import translated
from .models import CodebookVersion, Document, FinalValue, LabelSet, LabelStatus, User
from .reliability_views import codebook_lang
from .services import adjudication as service
from .services.reliability import analysed_versions

bp = Blueprint("adjudication", __name__, url_prefix="/adjudicate")

F = TypeVar("F")
TYPED = "typed"
CLEAR = "clear"


def adjudicator_required(view: F) -> F:
    """The PI and coders with the adjudicator right: others get 403."""

    @wraps(view)  # type: ignore[arg-type]
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.may_adjudicate:
            abort(403)
        return view(*args, **kwargs)  # type: ignore[operator]

    return cast(F, wrapped)


class VersionForm(Form):
    """Which codebook version the list shows; read from the query string."""

    version = SelectField(_l("Codebook version"), coerce=int, validators=[Optional()])


class FinalValueForm(FlaskForm):
    """One variable's decision: a coder's value, a typed one, or none.

    ``value`` is the variable's own field, as on the coding form (``final_value_form``).
    """

    class Meta:
        # The app's CSRFProtect checks every POST before the view runs; a per-form token
        # would need a prefixed field for each of the page's many forms.
        csrf = False

    source = RadioField(_l("Final value"), validators=[InputRequired()])
    value: Field
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the typed value only when the decision is to type one."""
        valid = super().validate(extra_validators)
        if self.source.data != TYPED:
            self.value.errors = []
            valid = not any(field.errors for field in self)
        return valid


def final_value_form(variable: Variable, lang: str, formdata: Any = None) -> FinalValueForm:
    """The decision form of a variable, its typed value entered in the variable's own field."""
    form_class = type(
        "FinalValueForm", (FinalValueForm,), {"value": variable_field(variable, lang)}
    )
    form = form_class(formdata=formdata, prefix=variable.id)
    form.value.label.text = _("Typed value")
    return form


def _version_label(version: CodebookVersion) -> str:
    return f"{version.codebook.slug} v{version.number} ({version.codebook.title})"


def _document_version(document: Document, wanted: Any) -> CodebookVersion:
    """The version asked for, else the newest under which the document has submitted coding."""
    versions = db.session.scalars(
        select(CodebookVersion)
        .join(LabelSet, LabelSet.codebook_version_id == CodebookVersion.id)
        .where(LabelSet.document_id == document.id, LabelSet.status == LabelStatus.SUBMITTED)
        .distinct()
        .order_by(CodebookVersion.created_at.desc(), CodebookVersion.id.desc())
    ).all()
    if not versions:
        abort(404)
    try:
        wanted_id = int(wanted) if wanted else None
    except ValueError:
        abort(404)
    if wanted_id is None:
        return versions[0]
    version = next((v for v in versions if v.id == wanted_id), None)
    if version is None:
        abort(404)
    return version


def _load(document_id: int, wanted_version: Any) -> tuple[Document, CodebookVersion]:
    """The document and version, if the current user may adjudicate them (else 404/403)."""
    document = db.session.get(Document, document_id)
    if document is None:
        abort(404)
    version = _document_version(document, wanted_version)
    if not service.may_adjudicate(db.session, current_user, document, version):
        abort(403)
    return document, version


def _form(
    row: service.VariableComparison, coders: tuple[User, ...], formdata: Any = None
) -> FinalValueForm:
    form = final_value_form(row.variable, codebook_lang(), formdata)
    options = [(str(coder.id), coder.username) for coder in coders]
    options.append((TYPED, _("typed value")))
    if row.final is not None:
        options.append((CLEAR, _("no final value (clear)")))
    form.source.choices = choices(options)
    if formdata is None and row.final is not None:
        if row.final.source_coder_id is not None:
            form.source.data = str(row.final.source_coder_id)
        else:
            form.source.data = TYPED
            form.value.data = value_to_form(row.variable, row.final.value)
        form.note.data = row.final.note
    return form


def _next_document(document: Document, version: CodebookVersion) -> Document | None:
    """The next document with undecided disagreements (after this one in unit order)."""
    statuses = service.documents_to_adjudicate(db.session, version, for_user=current_user)
    ids = [s.document.id for s in statuses]
    after = ids.index(document.id) + 1 if document.id in ids else 0
    for status in statuses[after:] + statuses[:after]:
        if status.document.id != document.id and not status.done:
            return status.document
    return None


def _render(
    document: Document,
    version: CodebookVersion,
    failed: tuple[str, FinalValueForm] | None = None,
    status: int = 200,
) -> Any:
    compared = service.comparison(db.session, document, version)
    forms = {row.variable.id: _form(row, compared.coders) for row in compared.rows}
    if failed is not None:
        forms[failed[0]] = failed[1]
    deciders = {
        user.id: user
        for user in db.session.scalars(
            select(User).where(
                User.id.in_(
                    {row.final.decided_by_id for row in compared.rows if row.final is not None}
                )
            )
        )
    }
    return render_template(
        "adjudication/document.html",
        compared=compared,
        document=document,
        document_html=document_html(document),
        forms=forms,
        deciders=deciders,
        coders_by_id={coder.id: coder for coder in compared.coders},
        lang=codebook_lang(),
        unit=document.filename,
        next_document=_next_document(document, version),
        agreement_is_final=current_app.config.get("AGREEMENT_IS_FINAL", False),
        version_label=_version_label(version),
        final_source=final_source,
    ), status


@bp.get("/")
@adjudicator_required
def index() -> Any:
    """The documents coded by several coders, with where each one's adjudication stands."""
    form = VersionForm(request.args)
    versions = analysed_versions(db.session)
    form.version.choices = choices((v.id, _version_label(v)) for v in versions)
    form.validate()
    version = next((v for v in versions if v.id == form.version.data), None)
    if version is None and versions:
        version = versions[0]
        form.version.data = version.id
    statuses = (
        service.documents_to_adjudicate(db.session, version, for_user=current_user)
        if version is not None
        else []
    )
    return render_template(
        "adjudication/index.html",
        form=form,
        version=version,
        statuses=statuses,
        agreement_is_final=current_app.config.get("AGREEMENT_IS_FINAL", False),
        adjudicators=(
            [coder for coder in service.coders_and_rights(db.session) if coder.can_adjudicate]
            if current_user.role.can_administer()
            else []
        ),
    )


@bp.get("/<int:document_id>")
@adjudicator_required
def document(document_id: int) -> Any:
    """Every coder's values and quotes side by side, with the final values and their forms."""
    found, version = _load(document_id, request.args.get("version"))
    return _render(found, version)


def _back(document: Document, version: CodebookVersion, anchor: str | None = None) -> Any:
    default = _document_version(document, None)
    args: dict[str, Any] = {} if version.id == default.id else {"version": version.id}
    url = url_for("adjudication.document", document_id=document.id, **args)
    return redirect(url + (f"#{anchor}" if anchor else ""))


@bp.post("/<int:document_id>/final")
@adjudicator_required
def set_value(document_id: int) -> Any:
    """Decide one variable's final value (the variable is named in the form)."""
    found, version = _load(document_id, request.form.get("version"))
    compared = service.comparison(db.session, found, version)
    row = next((r for r in compared.rows if r.variable.id == request.form.get("variable")), None)
    if row is None:
        flash(_("Choose a variable of this codebook."), "error")
        return _render(found, version, status=422)
    form = _form(row, compared.coders, formdata=request.form)
    if not form.validate():
        return _render(found, version, (row.variable.id, form), 422)
    note = form.note.data or ""
    try:
        if form.source.data == CLEAR:
            service.clear_final(
                db.session, found, version, row.variable.id, user=current_user, note=note
            )
        elif form.source.data == TYPED:
            service.set_final(
                db.session,
                found,
                version,
                row.variable.id,
                user=current_user,
                value=form_to_value(row.variable, form.value.data),
                note=note,
            )
        else:
            coder = next(c for c in compared.coders if str(c.id) == form.source.data)
            service.set_final(
                db.session,
                found,
                version,
                row.variable.id,
                user=current_user,
                source_coder=coder,
                note=note,
            )
    except service.NotAllowed:
        db.session.rollback()
        abort(403)
    except service.AdjudicationError as error:
        db.session.rollback()
        # The codebook's message goes to the field (translated when the codebook's is).
        for key, message in error.errors.items():
            target = form.value if key in ("value", "variable") else form.source
            target.errors = [*target.errors, translated(message)]
        return _render(found, version, (row.variable.id, form), 422)
    db.session.commit()
    flash(_("Final value saved."), "success")
    return _back(found, version, f"v-{row.variable.id}")


@bp.post("/<int:document_id>/accept-agreed")
@adjudicator_required
def accept_agreed(document_id: int) -> Any:
    """Make every agreed, undecided value final in one step."""
    found, version = _load(document_id, request.form.get("version"))
    try:
        accepted = service.accept_agreed(db.session, found, version, current_user)
    except service.NotAllowed:
        db.session.rollback()
        abort(403)
    db.session.commit()
    flash(
        _("Accepted %(num)d agreed values.", num=len(accepted))
        if accepted
        else _("No agreed value was left to accept."),
        "success",
    )
    return _back(found, version)


def final_source(final: FinalValue | None, coders_by_id: dict[int, User]) -> str:
    """Whose value a final value is, for the page."""
    if final is None:
        return ""
    if final.source_coder_id is None:
        return _("typed")
    coder = coders_by_id.get(final.source_coder_id)
    return _("from %(coder)s", coder=coder.username if coder else f"#{final.source_coder_id}")
