"""Operations on the project's database. Each takes a SQLAlchemy session and imports no Flask.

Views and CLI commands call these; they hold the rules (what counts as a duplicate, what a
change records in the history) so that the web and the command line behave the same.
"""

from typing import Any, TypeAlias

from sqlalchemy import orm

# A plain session, or Flask-SQLAlchemy's scoped ``db.session``, which behaves as one.
Session: TypeAlias = orm.Session | orm.scoped_session[Any]
