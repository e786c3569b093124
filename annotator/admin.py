"""The PI's area: overview, codebooks, people and assignments."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .assignment import PlanError, parse_share_or_count
from .auth import ROLE_NAMES, admin_required
from .codebook import CodebookError
from .extensions import db
from .forms import (
    AdjudicatorForm,
    AssignManualForm,
    AssignRuleForm,
    CodebookUploadForm,
    UserForm,
    choices,
)
from .models import Assignment, Document, LabelSet, LabelStatus, Role, User
from .services import adjudication as adjudication_service
from .services import assignments as assignment_service
from .services import users as user_service
from .services.codebooks import all_codebooks, find_codebook, load_codebook_text

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def overview() -> Any:
    """Counts and each coder's progress."""
    coders = user_service.coders(db.session)
    assigned = Counter(
        dict(
            db.session.execute(
                select(Assignment.coder_id, func.count()).group_by(Assignment.coder_id)
            ).all()
        )
    )
    submitted = Counter(
        dict(
            db.session.execute(
                select(LabelSet.coder_id, func.count())
                .where(LabelSet.status == LabelStatus.SUBMITTED)
                .group_by(LabelSet.coder_id)
            ).all()
        )
    )
    return render_template(
        "admin/overview.html",
        coders=coders,
        assigned=assigned,
        submitted=submitted,
        n_documents=db.session.scalar(select(func.count()).select_from(Document)),
        codebooks=all_codebooks(db.session),
    )


@bp.route("/codebooks", methods=["GET", "POST"])
@admin_required
def codebooks() -> Any:
    """Loaded codebooks and their versions; POST loads a file."""
    form = CodebookUploadForm()
    problems: list[str] = []
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        name = upload.filename or "codebook.yaml"
        raw = upload.read()
        try:
            result = load_codebook_text(db.session, raw.decode("utf-8"), name, current_user)
        except UnicodeDecodeError:
            problems = [_("%(name)s: not UTF-8 text", name=name)]
        except CodebookError as error:
            problems = [str(problem) for problem in error.problems]
        else:
            db.session.commit()
            flash(result.describe(), "success")
            return redirect(url_for("admin.codebooks"))
        db.session.rollback()
        status = 422
    elif form.is_submitted():
        status = 422  # no file chosen: refused like an invalid one
    return render_template(
        "admin/codebooks.html", form=form, problems=problems, codebooks=all_codebooks(db.session)
    ), status


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> Any:
    """People; POST adds one, showing a generated password once."""
    form = UserForm()
    status = 200
    if form.validate_on_submit():
        password = form.password.data or user_service.generate_password()
        try:
            user = user_service.add_user(
                db.session,
                (form.username.data or "").strip(),
                Role(form.role.data),
                password,
                (form.display_name.data or "").strip(),
                locale=form.locale.data or None,
            )
        except user_service.UserError as error:
            db.session.rollback()
            form.username.errors = [*form.username.errors, str(error)]
            status = 422
        else:
            db.session.commit()
            role = ROLE_NAMES[user.role]
            if form.password.data:
                flash(
                    _("Added %(role)s '%(username)s'.", role=role, username=user.username),
                    "success",
                )
                return redirect(url_for("admin.users"))
            # A generated password is shown in this answer only, never kept by the browser: a
            # flash message would carry it in the session cookie (signed, not encrypted) and a
            # redirect would leave it there until the next page.
            notice = _(
                "Added %(role)s '%(username)s'. Password (shown once): %(password)s",
                role=role,
                username=user.username,
                password=password,
            )
            response = make_response(_render_users(UserForm(formdata=None), notice=notice))
            response.headers["Cache-Control"] = "no-store"
            return response
    elif form.is_submitted():
        status = 422
    return _render_users(form), status


def _render_users(form: UserForm, notice: str | None = None) -> str:
    people = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", form=form, people=people, notice=notice)


@bp.post("/users/adjudicator")
@admin_required
def adjudicator() -> Any:
    """Give a coder the adjudicator right, or take it back."""
    form = AdjudicatorForm()
    person = (
        db.session.scalar(select(User).where(User.username == form.username.data))
        if form.validate()
        else None
    )
    if person is None:
        flash(_("Choose a coder."), "error")
        return redirect(url_for("admin.users"))
    try:
        adjudication_service.set_adjudicator(db.session, person, form.allowed.data == "1")
    except adjudication_service.AdjudicationError:
        db.session.rollback()
        flash(_("%(username)s may always adjudicate.", username=person.username), "error")
        return redirect(url_for("admin.users"))
    db.session.commit()
    if person.can_adjudicate:
        flash(_("%(username)s may now adjudicate.", username=person.username), "success")
    else:
        flash(_("%(username)s may no longer adjudicate.", username=person.username), "success")
    return redirect(url_for("admin.users"))


def _assignment_forms() -> tuple[AssignRuleForm, AssignManualForm]:
    codebook_choices = choices((c.slug, c.slug) for c in all_codebooks(db.session))
    rule = AssignRuleForm(prefix="rule")
    rule.codebook.choices = codebook_choices
    manual = AssignManualForm(prefix="manual")
    manual.codebook.choices = codebook_choices
    manual.document.choices = choices(
        (d.id, f"{d.id}: {d.filename}")
        for d in db.session.scalars(select(Document).order_by(Document.id))
    )
    manual.coder.choices = choices((u.id, u.username) for u in user_service.coders(db.session))
    return rule, manual


def _render_assignments(rule: AssignRuleForm, manual: AssignManualForm, status: int = 200) -> Any:
    rows = db.session.scalars(
        select(Assignment).order_by(Assignment.document_id, Assignment.coder_id)
    ).all()
    return render_template("admin/assignments.html", rule=rule, manual=manual, rows=rows), status


@bp.get("/assignments")
@admin_required
def assignments() -> Any:
    """Every assignment, the rule form and the by-hand form."""
    return _render_assignments(*_assignment_forms())


@bp.post("/assignments/rule")
@admin_required
def assign_rule() -> Any:
    """Assign every unassigned document, with a reliability sample."""
    rule, manual = _assignment_forms()
    if not rule.validate_on_submit():
        return _render_assignments(rule, manual, 422)
    try:
        share, count = parse_share_or_count(rule.sample.data or "0")
        coders = user_service.coders(db.session)
        _, plan = assignment_service.assign_by_rule(
            db.session,
            find_codebook(db.session, rule.codebook.data),
            coders,
            reliability_share=share,
            reliability_count=count,
            coders_per_document=rule.coders_per_document.data or 2,
            seed=rule.seed.data,
            created_by=current_user,
        )
    except (PlanError, LookupError) as error:
        db.session.rollback()
        rule.sample.errors = [*rule.sample.errors, str(error)]
        return _render_assignments(rule, manual, 422)
    db.session.commit()
    for line in assignment_service.describe_plan(plan, coders):
        flash(line.strip(), "success")
    return redirect(url_for("admin.assignments"))


@bp.post("/assignments/manual")
@admin_required
def assign_manual() -> Any:
    """Give one document to one coder."""
    rule, manual = _assignment_forms()
    if not manual.validate_on_submit():
        return _render_assignments(rule, manual, 422)
    document = db.session.get(Document, manual.document.data)
    coder = db.session.get(User, manual.coder.data)
    if document is None or coder is None:
        return _render_assignments(rule, manual, 422)
    try:
        assignment_service.assign_by_hand(
            db.session, document, coder, find_codebook(db.session, manual.codebook.data)
        )
    except (PlanError, LookupError) as error:
        db.session.rollback()
        manual.coder.errors = [*manual.coder.errors, str(error)]
        return _render_assignments(rule, manual, 422)
    db.session.commit()
    flash(
        _(
            "Assigned document %(document)s to %(coder)s.",
            document=document.id,
            coder=coder.username,
        ),
        "success",
    )
    return redirect(url_for("admin.assignments"))
