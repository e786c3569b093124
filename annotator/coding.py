"""The coder's area: the queue of assignments and the coding page.

A coder reaches only documents assigned to them and only their own label sets; nothing
here reads another coder's labels.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from .codebook import Codebook as CodebookDefinition
from .documents import document_html
from .extensions import db
from .forms import EvidenceForm, choices, fill_form, form_values, label_form_class
from .i18n import translated, translated_errors, translated_problems
from .models import Assignment, CodebookVersion, Evidence, LabelSet, LabelStatus, Page
from .quotes import locate
from .services import labels as label_service

bp = Blueprint("coding", __name__, url_prefix="/code")


def get_assignment(document_id: int) -> Assignment:
    """The current user's assignment for a document, or 404 (not 403: do not confirm it exists)."""
    assignment = db.session.scalar(
        select(Assignment)
        .where(Assignment.document_id == document_id, Assignment.coder_id == current_user.id)
        .order_by(Assignment.id)
    )
    if assignment is None:
        abort(404)
    return assignment


def _version_for(assignment: Assignment) -> CodebookVersion:
    """The newest version of the assignment's codebook, which new label sets are made under."""
    latest = db.session.scalar(
        select(CodebookVersion)
        .where(CodebookVersion.codebook_id == assignment.codebook_id)
        .order_by(CodebookVersion.number.desc())
        .limit(1)
    )
    if latest is None:
        abort(409, _("the codebook of this assignment has no version"))
    return latest


def _label_set(assignment: Assignment, *, create: bool, lock: bool = False) -> LabelSet | None:
    # A request that changes the label set locks it until it commits (``create`` is true
    # for the saves; ``lock`` for the changes that make none): it reads the revision that
    # it then raises, which an autosave landing in between must not share.
    found = label_service.find_label_set(
        db.session,
        assignment.document_id,
        current_user.id,
        assignment.codebook_id,
        for_update=create or lock,
    )
    if found is not None or not create:
        return found
    return label_service.label_set_for(
        db.session, assignment.document, current_user, _version_for(assignment), create=True
    )


def codebook_lang() -> str:
    """The codebook language that goes with the interface: its Chinese texts for Chinese."""
    locale = get_locale()
    return "zh" if locale is not None and locale.language == "zh" else "en"


def conflict_rows(
    codebook: CodebookDefinition,
    mine: dict[str, Any],
    theirs: dict[str, Any],
    note: tuple[str | None, str] | None = None,
) -> list[dict[str, str]]:
    """What differs between a refused save and the saved label set, a row per variable.

    ``note`` is (the note sent, the saved note) when the note is compared too.
    """
    lang = codebook_lang()
    rows = [
        {
            "variable": variable.id,
            "label": variable.label.get(lang),
            "mine": variable.display_value(mine.get(variable.id), lang),
            "theirs": variable.display_value(theirs.get(variable.id), lang),
        }
        for variable in codebook.differences(mine, theirs)
    ]
    if note is not None and note[0] is not None and note[0].strip() != note[1].strip():
        rows.append({"variable": "note", "label": _("Note"), "mine": note[0], "theirs": note[1]})
    return rows


def _queue() -> list[tuple[Assignment, LabelSet | None]]:
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.coder_id == current_user.id).order_by(Assignment.id)
    ).all()
    sets = {
        (ls.document_id, ls.codebook_version.codebook_id): ls
        for ls in db.session.scalars(select(LabelSet).where(LabelSet.coder_id == current_user.id))
    }
    return [(a, sets.get((a.document_id, a.codebook_id))) for a in assignments]


@bp.get("/")
@login_required
def queue() -> Any:
    """The coder's assignments with their status."""
    rows = _queue()
    done = sum(1 for _, ls in rows if ls is not None and ls.status is LabelStatus.SUBMITTED)
    return render_template("coding/queue.html", rows=rows, done=done)


@bp.get("/next")
@login_required
def next_uncoded() -> Any:
    """Open the first assignment that is not submitted yet."""
    for assignment, label_set in _queue():
        if label_set is None or label_set.status is not LabelStatus.SUBMITTED:
            return redirect(url_for("coding.code", document_id=assignment.document_id))
    flash(_("Every assigned document is submitted."), "info")
    return redirect(url_for("coding.queue"))


def _render(
    assignment: Assignment,
    label_set: LabelSet | None,
    form: Any,
    status: int = 200,
    conflict: list[dict[str, str]] | None = None,
) -> Any:
    version = label_set.codebook_version if label_set else _version_for(assignment)
    codebook = version.parsed()
    evidence_form = EvidenceForm(prefix="evidence")
    lang = codebook_lang()
    evidence_form.variable.choices = choices((v.id, v.label.get(lang)) for v in codebook.variables)
    evidence: dict[str, list[Evidence]] = {}
    for item in label_set.evidence if label_set else []:
        evidence.setdefault(item.variable, []).append(item)
    queue_ids = list(dict.fromkeys(a.document_id for a, _ in _queue()))
    at = queue_ids.index(assignment.document_id) if assignment.document_id in queue_ids else -1
    previous_id = queue_ids[at - 1] if at > 0 else None
    next_id = queue_ids[at + 1] if 0 <= at < len(queue_ids) - 1 else None
    return (
        render_template(
            "coding/code.html",
            previous_id=previous_id,
            next_id=next_id,
            assignment=assignment,
            document=assignment.document,
            document_html=document_html(assignment.document),
            label_set=label_set,
            version=version,
            codebook=codebook,
            form=form,
            evidence=evidence,
            evidence_form=evidence_form,
            conflict=conflict or [],
            lang=lang,
            keywords=[keyword._asdict() for keyword in codebook.keywords(lang)],
        ),
        status,
    )


@bp.route("/<int:document_id>", methods=["GET", "POST"])
@login_required
def code(document_id: int) -> Any:
    """The document beside the codebook form; POST saves or submits."""
    assignment = get_assignment(document_id)
    label_set = _label_set(assignment, create=request.method == "POST")
    version = label_set.codebook_version if label_set else _version_for(assignment)
    codebook = version.parsed()
    form = label_form_class(codebook, codebook_lang())()
    if request.method == "GET":
        if label_set is not None:
            fill_form(form, codebook, label_set.values())
            form.note.data = label_set.note
            form.revision.data = str(label_set.revision)
        else:
            form.revision.data = "0"
        return _render(assignment, label_set, form)

    assert label_set is not None
    if not form.validate_on_submit():
        db.session.rollback()
        flash(_("Nothing was saved: correct the marked fields."), "error")
        return _render(assignment, label_set, form, 422)
    submit = request.form.get("action") == "submit"
    try:
        label_service.save_labels(
            db.session,
            label_set,
            current_user,
            form_values(form, codebook),
            note=form.note.data or "",
            expected_revision=int(form.revision.data or 0),
            submit=submit,
        )
    except label_service.StaleRevision:
        db.session.rollback()
        saved = stale_label_set(label_set)
        conflict = conflict_rows(
            codebook, form_values(form, codebook), saved.values(), (form.note.data, saved.note)
        )
        # Saving again now is a deliberate choice, made with the differences in view.
        form.revision.data = str(saved.revision)
        flash(
            _(
                "Not saved: this document was saved in another window since you opened it. "
                "Your entries are still in the form. Save again to keep them, or load the "
                "saved version."
            ),
            "error",
        )
        return _render(assignment, saved, form, 409, conflict)
    except label_service.LabelError as error:
        db.session.rollback()
        for variable_id, message in error.errors.items():
            field = getattr(form, "v_" + variable_id, None)
            if field is not None:
                field.errors = [*field.errors, translated(message)]
            else:
                flash(translated(message), "error")
        flash(
            _("Nothing was saved: correct the marked fields.")
            if not submit
            else _("Not submitted: correct the marked fields."),
            "error",
        )
        return _render(assignment, _label_set(assignment, create=False), form, 422)
    db.session.commit()
    if submit:
        flash(_("Submitted."), "success")
        return redirect(url_for("coding.next_uncoded"))
    flash(_("Saved."), "success")
    return redirect(url_for("coding.code", document_id=document_id))


def stale_label_set(label_set: LabelSet) -> LabelSet:
    """The label set as it is in the database now."""
    db.session.expire_all()
    return db.session.get(LabelSet, label_set.id) or label_set


@bp.get("/csrf-token.json")
@login_required
def csrf_token_json() -> Any:
    """A CSRF token for this session: a page kept open across a new login needs a fresh one."""
    response = jsonify(csrf_token=generate_csrf())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:document_id>/labels.json")
@login_required
def save_json(document_id: int) -> Any:
    """Save values sent as JSON (the page's autosave); CSRF token in a header.

    The request coders make most, so it reads with plain queries and no lock: the write
    checks the revision (``label_service.save_state``), and on SQLite the write lock is
    taken only for the write (``database.DEFERRED_WRITE_ENDPOINTS``).
    """
    coder_id = current_user.id
    assigned = label_service.assigned_state(db.session, document_id, coder_id)
    if assigned is None:
        abort(404)
    codebook_id, state = assigned
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("values", {}), dict):
        return jsonify(error="expected a JSON object with 'values'"), 400
    revision, note = payload.get("revision"), payload.get("note")
    # bool is an int in Python, but never a revision.
    if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool)):
        return jsonify(error="'revision' must be a whole number"), 400
    if note is not None and not isinstance(note, str):
        return jsonify(error="'note' must be text"), 400
    if state is None:
        state = label_service.create_state(db.session, document_id, coder_id, codebook_id)
    if state is None:
        abort(409, _("the codebook of this assignment has no version"))
    try:
        result = label_service.save_state(
            db.session,
            state,
            coder_id,
            payload.get("values", {}),
            note=note,
            expected_revision=revision,
            submit=bool(payload.get("submit")),
        )
    except label_service.StaleRevision as stale:
        db.session.rollback()
        return jsonify(
            error="stale",
            revision=stale.current_revision,
            values=stale.current_values,
            differences=conflict_rows(
                state.codebook(db.session),
                payload.get("values", {}),
                stale.current_values,
                (note, stale.current_note),
            ),
        ), 409
    except label_service.LabelError as error:
        db.session.rollback()
        return jsonify(error="invalid", errors=translated_errors(error.errors)), 422
    db.session.commit()
    saved = result.state
    return jsonify(revision=saved.revision, status=saved.status.value, values=saved.values)


@bp.post("/<int:document_id>/evidence")
@login_required
def add_evidence(document_id: int) -> Any:
    """Attach a quoted passage to a variable."""
    assignment = get_assignment(document_id)
    label_set = _label_set(assignment, create=True)
    assert label_set is not None
    form = EvidenceForm(prefix="evidence")
    form.variable.choices = choices(
        (v.id, v.id) for v in label_set.codebook_version.parsed().variables
    )
    if not form.validate_on_submit():
        db.session.rollback()
        flash(
            _(
                "Evidence not added: %(problems)s",
                problems="; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()),
            ),
            "error",
        )
        return redirect(url_for("coding.code", document_id=document_id))
    try:
        label_service.add_evidence(
            db.session,
            label_set,
            current_user,
            variable=form.variable.data or "",
            page=form.page.data or 0,
            quote=form.quote.data or "",
        )
    except label_service.LabelError as error:
        db.session.rollback()
        flash(
            _("Evidence not added: %(problems)s", problems=translated_problems(error.errors)),
            "error",
        )
        return redirect(url_for("coding.code", document_id=document_id))
    db.session.commit()
    flash(_("Evidence added."), "success")
    return redirect(url_for("coding.code", document_id=document_id))


def _whole_number(value: Any) -> bool:
    """A non-negative int, and not a bool (which is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@bp.post("/<int:document_id>/evidence.json")
@login_required
def add_evidence_json(document_id: int) -> Any:
    """Attach a passage selected in the document pane; JSON in and out, CSRF in a header.

    ``{variable, page, quote, start?}``: with ``start`` (a character offset in the page text)
    the quote must be there; without it the quote is located on the page, whitespace-tolerant,
    and the page's own text is stored.
    """
    assignment = get_assignment(document_id)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error="expected a JSON object"), 400
    variable, page, quote = payload.get("variable"), payload.get("page"), payload.get("quote")
    start = payload.get("start")
    if not isinstance(variable, str) or not isinstance(quote, str):
        return jsonify(error="'variable' and 'quote' must be text"), 400
    if not _whole_number(page):
        return jsonify(error="'page' must be a whole number"), 400
    if start is not None and not _whole_number(start):
        return jsonify(error="'start' must be a whole number"), 400
    assert isinstance(page, int)
    label_set = _label_set(assignment, create=True)
    assert label_set is not None
    if start is None:
        text = db.session.scalar(
            select(Page.text).where(Page.document_id == document_id, Page.number == page)
        )
        found = locate(text, quote) if text is not None else None
        if found is not None:
            start, quote = found
    try:
        evidence = label_service.add_evidence(
            db.session,
            label_set,
            current_user,
            variable=variable,
            page=page,
            quote=quote,
            start=start,
        )
    except label_service.LabelError as error:
        db.session.rollback()
        return jsonify(
            error=translated_problems(error.errors), errors=translated_errors(error.errors)
        ), 422
    db.session.commit()
    return jsonify(evidence=evidence.as_dict(), revision=label_set.revision)


@bp.post("/<int:document_id>/evidence/<int:evidence_id>/delete")
@login_required
def remove_evidence(document_id: int, evidence_id: int) -> Any:
    """Detach a quote."""
    assignment = get_assignment(document_id)
    label_set = _label_set(assignment, create=False, lock=True)
    if label_set is None:
        abort(404)
    try:
        label_service.remove_evidence(db.session, label_set, current_user, evidence_id)
    except label_service.LabelError as error:
        db.session.rollback()
        flash(translated_problems(error.errors), "error")
        return redirect(url_for("coding.code", document_id=document_id))
    db.session.commit()
    return redirect(url_for("coding.code", document_id=document_id))


@bp.post("/<int:document_id>/reopen")
@login_required
def reopen(document_id: int) -> Any:
    """Make a submitted label set editable again."""
    assignment = get_assignment(document_id)
    label_set = _label_set(assignment, create=False, lock=True)
    if label_set is None:
        abort(404)
    label_service.reopen(db.session, label_set, current_user)
    db.session.commit()
    flash(_("Reopened: your changes are recorded in the history."), "info")
    return redirect(url_for("coding.code", document_id=document_id))
