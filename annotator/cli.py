"""The ``annotator`` command line.

``annotator db upgrade`` (from Flask-Migrate) creates or upgrades the schema; every other
command that touches the database first checks that the schema is current and says to run
it when it is not.
"""

from __future__ import annotations

import io
import os
import secrets
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.exc import OperationalError

from .extensions import db
from .locales import LOCALES
from .services import exports as export_service

if TYPE_CHECKING:
    from .reliability_report import ReliabilityAnalysis

F = TypeVar("F", bound=Callable[..., Any])


def _cli_app() -> Flask:
    """The app for commands. They sign no cookies, so a missing secret key is no risk here;
    ``annotator serve`` builds its own app, which insists on one."""
    from . import create_app

    # Nor do they serve anyone: the warnings about cookies and keys are for the server.
    overrides: dict[str, object] = {"PRODUCTION_WARNINGS": False}
    if not os.environ.get("ANNOTATOR_SECRET_KEY"):
        overrides["SECRET_KEY"] = secrets.token_hex(32)
    return create_app(overrides)


def requires_current_schema(command: F) -> F:
    """Run the command only on a database whose schema is current."""

    @wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from . import MIGRATIONS_DIR
        from .schema import SchemaOutOfDate, check_schema

        try:
            check_schema(db.engine, MIGRATIONS_DIR)
        except SchemaOutOfDate as error:
            raise click.ClickException(str(error)) from None
        except OperationalError as error:
            where = db.engine.url.render_as_string(hide_password=True)
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise click.ClickException(f"cannot reach the database {where}: {reason}") from None
        return command(*args, **kwargs)

    return cast(F, wrapped)


def database_command(function: F) -> F:
    """A command that needs the app context and a current schema."""
    return cast(F, with_appcontext(requires_current_schema(function)))


main = FlaskGroup(
    name="annotator",
    help="Code documents for content analysis. Start with `annotator demo`.",
    create_app=_cli_app,
    add_default_commands=False,
    set_debug_flag=False,
    load_dotenv=False,
)


def register_commands(app: Flask) -> None:
    """Attach the project's commands to the app's CLI (for ``flask --app annotator``)."""
    for command in commands():
        app.cli.add_command(command)


def commands() -> tuple[click.Command, ...]:
    """The project's commands, as ``annotator --help`` lists them (besides ``db``)."""
    return (
        codebook_group,
        import_command,
        users_group,
        assign_command,
        reliability_command,
        export_command,
        backup_command,
        restore_command,
        demo_command,
        serve_command,
    )


# --- codebooks -----------------------------------------------------------------------


@click.group("codebook")
def codebook_group() -> None:
    """Validate and load codebook files."""


@codebook_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def codebook_validate(files: tuple[str, ...]) -> None:
    """Check codebook files; print every problem with its file and line."""
    from .codebook import CodebookError, load_codebook

    failed = False
    for file in files:
        try:
            codebook = load_codebook(file)
        except CodebookError as error:
            failed = True
            for problem in error.problems:
                click.echo(str(problem), err=True)
        except OSError as error:
            failed = True
            click.echo(f"{file}: cannot read: {error.strerror}", err=True)
        else:
            click.echo(
                f"{file}: valid codebook '{codebook.id}' with {len(codebook.variables)} variables"
            )
    if failed:
        sys.exit(1)


@codebook_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@database_command
def codebook_load(file: str) -> None:
    """Load a codebook file as a new version (an unchanged file makes none)."""
    from .codebook import CodebookError
    from .services.codebooks import load_codebook_text

    path = Path(file)
    try:
        result = load_codebook_text(db.session, path.read_text(encoding="utf-8"), path.name)
    except UnicodeDecodeError:
        raise click.ClickException(f"{file}: not UTF-8 text") from None
    except CodebookError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(result.describe())


@codebook_group.command("list")
@database_command
def codebook_list() -> None:
    """Loaded codebooks and their versions."""
    from .services.codebooks import all_codebooks

    for codebook in all_codebooks(db.session):
        for version in codebook.versions:
            click.echo(
                f"{codebook.slug}\tversion {version.number}\t{version.created_at:%Y-%m-%d %H:%M}"
                f"\t{version.source_name}\t{len(version.definition['variables'])} variables"
            )


# --- documents -----------------------------------------------------------------------


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--metadata", type=click.Path(exists=True, dir_okay=False), help="CSV keyed by file name."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@database_command
def import_command(paths: tuple[str, ...], metadata: str | None, quiet: bool) -> None:
    """Import document files and folders (recursively): PDF, text, HTML, Markdown.

    Exits 1 when any file was refused; the summary says which and why.
    """
    from .metadata import MetadataError, read_metadata_csv
    from .services.documents import ImportReport, collect_files, import_file, unmatched_metadata

    try:
        table = read_metadata_csv(metadata) if metadata else {}
    except MetadataError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException("the metadata CSV has problems; nothing was imported") from None
    files = collect_files(paths)
    for name in unmatched_metadata(table, files):
        click.echo(f"warning: the metadata names '{name}', which is not among the files", err=True)
    report = ImportReport()
    with click.progressbar(
        files,
        label="Importing",
        show_pos=True,
        item_show_func=lambda p: p.name if p else None,
        file=io.StringIO() if quiet else None,
    ) as bar:
        for path in bar:
            report.outcomes.append(
                import_file(
                    db.session,
                    path,
                    data_dir=current_app.config["DATA_DIR"],
                    max_bytes=current_app.config["MAX_DOCUMENT_BYTES"],
                    metadata=table.get(path.name),
                )
            )
    for line in report.summary_lines():
        click.echo(line)
    if report.refused:
        sys.exit(1)


# --- people --------------------------------------------------------------------------


@click.group("users")
def users_group() -> None:
    """Add and list people."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["pi", "coder"]), required=True)
@click.option("--name", "display_name", default="", help="Name to show.")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it.")
@click.option(
    "--locale",
    type=click.Choice(list(LOCALES)),
    help="Interface language (default: the browser's).",
)
@database_command
def users_add(
    username: str, role: str, display_name: str, generate_password: bool, locale: str | None
) -> None:
    """Add a person: prompts for a password, or generates one."""
    from .models import Role
    from .services import users as user_service

    if generate_password:
        password = user_service.generate_password()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = user_service.add_user(
            db.session, username, Role(role), password, display_name, locale=locale
        )
    except user_service.UserError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"added {user.role.value} '{user.username}'")
    if generate_password:
        click.echo(f"password: {password}")


@users_group.command("list")
@database_command
def users_list() -> None:
    """Everyone, with their role."""
    from sqlalchemy import select

    from .models import User

    for user in db.session.scalars(select(User).order_by(User.username)):
        state = "" if user.active else "\t(inactive)"
        click.echo(f"{user.username}\t{user.role.value}\t{user.display_name}{state}")


# --- assignments ---------------------------------------------------------------------


@click.command("assign")
@click.option("--codebook", "codebook_slug", help="Codebook id (needed when several are loaded).")
@click.option(
    "--sample", default="20%", show_default=True, help="Reliability sample: N% or N documents."
)
@click.option(
    "--coders-per-document",
    "k",
    default=2,
    show_default=True,
    help="Coders per reliability document.",
)
@click.option(
    "--coder", "coder_names", multiple=True, help="Only these coders (default: every coder)."
)
@click.option(
    "--seed",
    # The seed is stored in an INTEGER column, which PostgreSQL holds in 32 bits.
    type=click.IntRange(0, 2**31 - 1),
    help="Seed of the random draw (default: drawn and printed).",
)
@click.option(
    "--document", "document_ids", type=int, multiple=True, help="By hand: these documents…"
)
@database_command
def assign_command(
    codebook_slug: str | None,
    sample: str,
    k: int,
    coder_names: tuple[str, ...],
    seed: int | None,
    document_ids: tuple[int, ...],
) -> None:
    """Assign documents: every unassigned one to a coder plus a reliability sample.

    With --document and --coder, assign those documents to those coders by hand instead.
    """
    from .assignment import PlanError, parse_share_or_count
    from .models import Document
    from .services import assignments as assignment_service
    from .services import users as user_service
    from .services.codebooks import find_codebook

    try:
        codebook = find_codebook(db.session, codebook_slug)
        coders = (
            [user_service.find_user(db.session, name) for name in coder_names]
            if coder_names
            else user_service.coders(db.session)
        )
        if document_ids:
            if not coder_names:
                raise PlanError("by hand, name the coder(s) with --coder")
            for document_id in document_ids:
                document = db.session.get(Document, document_id)
                if document is None:
                    raise PlanError(f"there is no document {document_id}")
                for coder in coders:
                    assignment_service.assign_by_hand(db.session, document, coder, codebook)
                    click.echo(f"assigned document {document_id} to {coder.username}")
        else:
            share, count = parse_share_or_count(sample)
            _, plan = assignment_service.assign_by_rule(
                db.session,
                codebook,
                coders,
                reliability_share=share,
                reliability_count=count,
                coders_per_document=k,
                seed=seed,
            )
            for line in assignment_service.describe_plan(plan, coders):
                click.echo(line)
    except (PlanError, LookupError, user_service.UserError) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()


# --- reliability ---------------------------------------------------------------------


@click.command("reliability")
@click.option(
    "--from-csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Ratings in long format (unit,coder,variable,value) instead of the database.",
)
@click.option(
    "--codebook",
    "codebook_file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --from-csv: take each variable's level and options from this codebook file.",
)
@click.option(
    "--level",
    type=click.Choice(["nominal", "ordinal", "interval", "ratio", "masi"]),
    help="With --from-csv: the level of every variable not in --codebook (default: nominal).",
)
@click.option(
    "--codebook-id",
    "codebook_slug",
    help="From the database: the codebook (needed when several are loaded).",
)
@click.option(
    "--version",
    "version_number",
    type=click.IntRange(min=1),
    help="From the database: the codebook version (default: the newest with coded documents).",
)
@click.option(
    "--include-in-progress",
    is_flag=True,
    help="From the database: count label sets not yet submitted.",
)
@click.option("--variable", "variables", multiple=True, help="Only these variables (default: all).")
@click.option(
    "--bootstrap",
    "samples",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap samples for the 95 % interval and q (0: none).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    help="Seed of the bootstrap (default: drawn and printed).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_context
def reliability_command(
    ctx: click.Context,
    csv_file: str | None,
    codebook_file: str | None,
    level: str | None,
    codebook_slug: str | None,
    version_number: int | None,
    include_in_progress: bool,
    variables: tuple[str, ...],
    samples: int,
    seed: int | None,
    output_format: str,
) -> None:
    """Inter-coder reliability per variable: Krippendorff's alpha with a bootstrap interval,
    percent agreement, Cohen's, Fleiss' and Gwet's coefficients.

    Computes for the project's database (submitted label sets of a codebook version), or for
    any ratings file with --from-csv. Exits 1 when the input has problems.
    """
    import json

    from .reliability_report import methods_paragraph, text_table, to_csv

    if csv_file is None:
        given: object
        for name, given in (("--codebook", codebook_file), ("--level", level)):
            if given is not None:
                raise click.UsageError(
                    f"{name} goes with --from-csv; the database has its own codebook"
                )
        ctx.with_resource(ctx.ensure_object(ScriptInfo).load_app().app_context())
        analysis = requires_current_schema(_database_analysis)(
            codebook_slug, version_number, include_in_progress
        )
    else:
        for name, given in (
            ("--codebook-id", codebook_slug),
            ("--version", version_number),
            ("--include-in-progress", include_in_progress or None),
        ):
            if given is not None:
                raise click.UsageError(f"{name} is for the database, not --from-csv")
        analysis = _file_analysis(csv_file, codebook_file, level or "nominal")
    if variables:
        unknown = [name for name in variables if name not in analysis.variables]
        if unknown:
            raise click.UsageError(
                f"no variable {', '.join(unknown)} (variables: {', '.join(analysis.variables)})"
            )
        analysis = analysis.only(variables)
    if seed is None and samples:
        seed = secrets.randbelow(2**32)
        click.echo(f"bootstrap seed: {seed} (pass --seed {seed} to repeat)", err=True)
    try:
        results = analysis.run(samples=samples, seed=seed)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if output_format == "json":
        click.echo(json.dumps({"variables": [r.to_json() for r in results]}, indent=2))
    elif output_format == "csv":
        click.echo(to_csv(results), nl=False)
    else:
        click.echo(text_table(results))
        click.echo()
        n_units, coders = analysis.coverage()
        click.echo(
            methods_paragraph(results, n_units=n_units, coders=coders, samples=samples, seed=seed)
        )


def _database_analysis(
    codebook_slug: str | None, version_number: int | None, include_in_progress: bool
) -> ReliabilityAnalysis:
    from .reliability_report import ReliabilityAnalysis
    from .services.codebooks import find_version
    from .services.reliability import ratings_for

    try:
        version = find_version(db.session, codebook_slug, version_number)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    definition, ratings = ratings_for(db.session, version, submitted_only=not include_in_progress)
    return ReliabilityAnalysis.from_codebook(definition, ratings)


def _file_analysis(csv_file: str, codebook_file: str | None, level: str) -> ReliabilityAnalysis:
    from .codebook import CodebookError, load_codebook
    from .ratings import RatingsError, read_ratings
    from .reliability_report import ReliabilityAnalysis

    codebook = None
    if codebook_file is not None:
        try:
            codebook = load_codebook(codebook_file)
        except CodebookError as error:
            for codebook_problem in error.problems:
                click.echo(str(codebook_problem), err=True)
            sys.exit(1)
    try:
        text = Path(csv_file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file}: not UTF-8 text") from None
    levels = {v.id: v.level for v in codebook.variables} if codebook else {}
    try:
        ratings = read_ratings(text, levels=levels, default_level=level)
    except RatingsError as error:
        for problem in error.problems:
            click.echo(f"{csv_file}: {problem}", err=True)
        sys.exit(1)
    if codebook is None:
        return ReliabilityAnalysis.from_levels(ratings, level)
    try:
        return ReliabilityAnalysis.from_codebook(codebook, ratings, strict=True)
    except ValueError as error:
        for line in str(error).splitlines():
            click.echo(f"{csv_file}: {line}", err=True)
        sys.exit(1)


# --- export --------------------------------------------------------------------------

EXPORT_FORMATS = export_service.FORMATS
EXPORT_LAYOUTS = export_service.LAYOUTS
_BINARY_FORMATS = export_service.BINARY_FORMATS


@click.command("export")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(EXPORT_FORMATS),
    default="csv",
    show_default=True,
    help="File format; codebook-* and qdc export the codebook itself, qdpx a REFI-QDA project.",
)
@click.option(
    "--layout",
    type=click.Choice(EXPORT_LAYOUTS),
    default="wide",
    show_default=True,
    help="wide: final values per document; wide-coders: a row per document and coder; "
    "long: a row per document, coder and variable; matrix-*: one variable's units x coders.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Output file (default: standard output; needed for xlsx, sav and dta).",
)
@click.option("--bom", is_flag=True, help="CSV: start with a byte-order mark (for Excel).")
@click.option(
    "--codebook-id", "codebook_slug", help="The codebook (needed when several are loaded)."
)
@click.option(
    "--version",
    "version_number",
    type=click.IntRange(min=1),
    help="The codebook version (default: the newest with coded documents).",
)
@click.option(
    "--variable",
    help="Matrix layouts: the variable (for multiple choice, an option column VARIABLE__CODE).",
)
@click.option("--include-in-progress", is_flag=True, help="Include label sets not yet submitted.")
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of variable and value labels (SPSS, Stata).",
)
@database_command
def export_command(
    output_format: str,
    layout: str,
    out: str | None,
    bom: bool,
    codebook_slug: str | None,
    version_number: int | None,
    variable: str | None,
    include_in_progress: bool,
    lang: str,
) -> None:
    """Export coded data or the codebook: CSV, XLSX, JSON, SPSS, Stata; see the README."""
    from .exports import ExportError
    from .services.refi_qda import RefiQdaError

    if output_format in _BINARY_FORMATS and out is None:
        raise click.UsageError(f"--format {output_format} writes a binary file: give --out FILE")
    if bom and output_format != "csv":
        raise click.UsageError("--bom is for --format csv")
    if layout.startswith("matrix-") and not variable:
        raise click.UsageError(f"--layout {layout} needs --variable")
    if variable and not layout.startswith("matrix-"):
        raise click.UsageError("--variable is for the matrix layouts")
    if include_in_progress and layout == "wide" and not output_format.startswith("codebook-"):
        raise click.UsageError(
            "final values come from submitted label sets; --include-in-progress is for the "
            "coders' layouts"
        )
    try:
        version = export_service.find_version(db.session, codebook_slug, version_number)
        cut = export_service.write_export(
            db.session,
            version,
            output_format,
            path=out,
            text_out=sys.stdout,
            layout=layout,
            variable=variable,
            include_in_progress=include_in_progress,
            agreement_is_final=current_app.config["AGREEMENT_IS_FINAL"],
            bom=bom,
            lang=lang,
            data_dir=current_app.config["DATA_DIR"],
        )
    except (ExportError, RefiQdaError) as error:
        if out is not None and output_format in ("qdpx", "qdc"):
            Path(out).unlink(missing_ok=True)
        raise click.ClickException(str(error)) from None
    if cut:
        click.echo(f"warning: {cut} texts were longer than Stata holds and were cut", err=True)


# --- backup and restore --------------------------------------------------------------


@click.command("backup")
@click.option(
    "--out",
    type=click.Path(),
    help="The archive to write, or a folder to write a dated one in (default: this folder).",
)
@click.option("--no-files", is_flag=True, help="Leave the stored document files out.")
@with_appcontext
def backup_command(out: str | None, no_files: bool) -> None:
    """Back up the database and the stored documents into one .tar.gz archive.

    Safe while coders work. Not limited to a current schema: the moment to back up is
    before `annotator db upgrade`.
    """
    from .backup import BackupError, create_backup

    try:
        result = create_backup(
            db.engine.url, current_app.config["DATA_DIR"], out, include_documents=not no_files
        )
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the backup: {error}") from None
    documents = "no document files" if no_files else f"{result.manifest.documents} document files"
    click.echo(
        f"{result.path}: {result.manifest.database} database at revision "
        f"{result.manifest.revision or 'none'}, {documents}, {result.size_bytes:,} bytes"
    )


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@with_appcontext
def restore_command(archive: str, yes: bool) -> None:
    """Replace the database with a backup's and add its document files.

    Checks the whole archive first; on any failure the database is left as it was.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from . import MIGRATIONS_DIR
    from .backup import BackupError, read_manifest, restore_backup
    from .schema import expected_heads

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    known = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    where = db.engine.url.render_as_string(hide_password=True)
    try:
        manifest = read_manifest(archive)
        click.echo(
            f"{archive}: a backup of {manifest.created_at} ({manifest.database}, revision "
            f"{manifest.revision or 'none'}, {manifest.documents} document files)"
        )
        if not yes:
            click.confirm(
                f"Replace everything in {where} with this backup? "
                "What is there now will be lost (back it up first)",
                abort=True,
            )
        db.session.remove()
        db.engine.dispose()  # no connection of ours holds the file or the tables
        restore_backup(archive, db.engine.url, current_app.config["DATA_DIR"], known)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # a folder that cannot be written: before the database changed
        raise click.ClickException(f"cannot restore: {error}") from None
    click.echo(f"restored {where} and {manifest.documents} document files")
    if manifest.revision not in expected_heads(MIGRATIONS_DIR):
        click.echo(
            f"the backup is at schema revision {manifest.revision or 'none'}: "
            "run `annotator db upgrade` before starting the server",
            err=True,
        )


# --- demo and server -----------------------------------------------------------------


@click.command("demo")
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build the demo project and exit.")
def demo_command(port: int, no_serve: bool) -> None:
    """Build a fresh demo project (SQLite, in the instance folder) and serve it."""
    from .demo import build_demo

    app = build_demo(current_app.instance_path, echo=click.echo)
    if not no_serve:
        click.echo(f"Serving the demo on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
        _run_server(app, "127.0.0.1", port)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Serve the app with the built-in server (use gunicorn in production)."""
    from . import MIGRATIONS_DIR, create_app
    from .config import ConfigurationError
    from .schema import SchemaOutOfDate, check_schema

    try:
        app = create_app()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    with app.app_context():
        try:
            check_schema(db.engine, MIGRATIONS_DIR)
        except SchemaOutOfDate as error:
            raise click.ClickException(str(error)) from None
    _run_server(app, host, port)


def _run_server(app: Flask, host: str, port: int) -> None:
    """Serve with Werkzeug's development server.

    Not ``app.run()``: inside a Flask command line, which ``annotator`` is, it only warns
    and returns, so the command would exit instead of serving.
    """
    from werkzeug.serving import run_simple

    run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)
