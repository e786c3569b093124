"""Is the database at the schema this code expects? Migrations are the only way there."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

UPGRADE_HINT = "run `annotator db upgrade` to create or upgrade it"


class SchemaOutOfDate(RuntimeError):
    """The database is missing, behind, or ahead of the code's migrations."""


def expected_heads(migrations_dir: str) -> set[str]:
    """The head revision(s) of the migrations shipped with the code."""
    config = Config()
    config.set_main_option("script_location", migrations_dir)
    return set(ScriptDirectory.from_config(config).get_heads())


def current_heads(engine: Engine) -> set[str]:
    """The revision(s) the database is at; empty for a new database."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def check_schema(engine: Engine, migrations_dir: str) -> None:
    """Raise ``SchemaOutOfDate`` with a message that says what to do."""
    expected = expected_heads(migrations_dir)
    current = current_heads(engine)
    if current == expected:
        return
    where = engine.url.render_as_string(hide_password=True)
    if not current:
        raise SchemaOutOfDate(f"the database {where} has no schema yet: {UPGRADE_HINT}")
    raise SchemaOutOfDate(
        f"the database {where} is at revision {', '.join(sorted(current))}, "
        f"this version of annotator needs {', '.join(sorted(expected))}: {UPGRADE_HINT}"
    )
