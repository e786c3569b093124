"""Create and find people."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from ..locales import LOCALES
from ..models import Role, User
from . import Session

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user cannot be created or changed as asked."""


def generate_password() -> str:
    """A random password that is easy to read out: four groups of four characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def add_user(
    session: Session,
    username: str,
    role: Role,
    password: str,
    display_name: str = "",
    *,
    locale: str | None = None,
) -> User:
    """Add a person; the user name must be new and the password long enough.

    ``locale`` is the interface language (a key of ``locales.LOCALES``); None follows the
    browser.
    """
    if not USERNAME.match(username):
        raise UserError(
            f"'{username}' is not a valid user name: use 2 to 80 letters, digits, '.', '_', '-' or '@'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if locale is not None and locale not in LOCALES:
        raise UserError(
            f"there is no interface language '{locale}': use one of {', '.join(LOCALES)}"
        )
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"a user named '{username}' already exists")
    user = User(username=username, role=role, display_name=display_name, locale=locale)
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def coders(session: Session) -> list[User]:
    """Every active coder, by user name."""
    return list(
        session.scalars(
            select(User)
            .where(User.role == Role.CODER, User.active.is_(True))
            .order_by(User.username)
        )
    )


def find_user(session: Session, username: str) -> User:
    """The user with this name, or a ``UserError`` that says there is none."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"there is no user named '{username}'")
    return user
