"""The login rate limit: failed logins counted per user name and per address in a sliding window.

Every failed login is a ``login_attempt`` row, counted against both the name typed and the
address it came from, so that guessing one person's password from many addresses, or many
people's passwords from one address, both run into a limit. The rows live in the database
so that all gunicorn workers see the same counts. A refused attempt (over the limit) is not
recorded: the password is not even checked, and recording it would let anyone keep a
person locked out for ever by trying once a minute.

A successful login clears the failures of its name, not of its address: otherwise an
attacker with one account of their own could log into it between guesses at others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from ..models import LoginAttempt, utcnow
from . import Session

_NAME_LENGTH = 80
_ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class LoginLimits:
    """How many failures a name and an address may have within ``window``."""

    per_name: int = 10
    per_address: int = 50
    window: timedelta = timedelta(minutes=15)


def normal_name(username: str) -> str:
    """The user name as counted: trimmed, lowercased and cut to the column's length."""
    return username.strip().lower()[:_NAME_LENGTH]


def retry_after(
    session: Session, username: str, address: str, limits: LoginLimits, now: datetime | None = None
) -> int | None:
    """Seconds until this name and address may try again, or None when they may try now."""
    now = now or utcnow()
    since = now - limits.window
    waits = []
    for column, key, limit in (
        (LoginAttempt.username, normal_name(username), limits.per_name),
        (LoginAttempt.address, address[:_ADDRESS_LENGTH], limits.per_address),
    ):
        times = session.scalars(
            select(LoginAttempt.at)
            .where(column == key, LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            # Free again when the oldest of the last `limit` failures leaves the window.
            waits.append((times[-1] + limits.window - now).total_seconds())
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def record_failure(
    session: Session, username: str, address: str, limits: LoginLimits, now: datetime | None = None
) -> None:
    """Count a failed login against the name and the address; drop failures out of the window."""
    now = now or utcnow()
    session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - limits.window))
    session.add(
        LoginAttempt(username=normal_name(username), address=address[:_ADDRESS_LENGTH], at=now)
    )
    session.commit()


def clear_failures(session: Session, username: str) -> None:
    """Forget the failed logins of a name, after it logged in successfully."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == normal_name(username)))
    session.commit()


def failures(session: Session, username: str) -> int:
    """How many failed logins of a name are on record (for tests and the command line)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.username == normal_name(username))
        )
        or 0
    )
