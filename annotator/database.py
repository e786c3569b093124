"""The database connection under load and faults: SQLite's locking, and outages answered 503.

SQLite allows one writer at a time. Every new SQLite connection is put in WAL mode (readers
never wait for the writer, nor the writer for readers) with a busy timeout, so that a writer
waits for the one before it instead of failing with "database is locked". A request that may
write (any method but GET, HEAD and OPTIONS; the login form and the autosave aside, see
``DEFERRED_WRITE_ENDPOINTS``) begins its transaction with ``BEGIN IMMEDIATE``,
taking the write lock before its first read: a save reads the label set, then writes it, and
in WAL mode a transaction that read before another writer committed cannot write at all
(SQLite answers ``SQLITE_BUSY`` at once, without waiting). Everything else (reads, the
login form, the command line) keeps the sqlite3 module's own handling: statements that
only read run outside a transaction, each seeing the latest commits, and the first write
begins a deferred transaction.

When the database cannot be reached (PostgreSQL restarting, a connection dropped, SQLite
locked beyond the timeout), the request is rolled back and answered ``503`` with
``Retry-After`` (JSON ``{"error": "database unavailable"}`` for scripts): nothing was saved,
and the page's autosave keeps its draft and tries again. The next request gets a new
connection (PostgreSQL connections are checked before use, ``pool_pre_ping``), so the
server recovers by itself.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from functools import partial
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session as OrmSession

from .auth import wants_json
from .extensions import db

# Seconds a client should wait before trying again after a 503.
RETRY_AFTER_SECONDS = 1
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Posts that take the write lock only when they write. Logging in checks a password (tens
# of milliseconds, by design), which must not hold the write lock and stop every save
# meanwhile; then it writes without having to read again. The autosave reads without a
# transaction and writes on condition that the revision it read is still the saved one
# (services.labels.save_state), so it holds the lock for its writes only.
DEFERRED_WRITE_ENDPOINTS = frozenset({"auth.login", "coding.save_json"})


class WriterQueue:
    """The requests that write one SQLite file take turns, across the server's processes.

    SQLite lets one connection write at a time; the others retry after sleeping 1, 2, 5,
    10 ... 100 ms (its busy handler), so under many concurrent saves a writer often sleeps
    long after the lock was freed, and the cores stand idle. Requests that write (see
    ``_writing``) first take an exclusive ``flock`` on a file beside the database, which
    the kernel hands to the next waiter the moment it is released, and hold it until the
    request's session is removed; only then do they take SQLite's own lock, which is
    therefore free. One thread per process waits on the file lock; the others wait on a
    thread lock with the busy timeout, after which the request gets the usual 503. The
    thread on the file waits as long as the other process's writer takes (a long import,
    say), without SQLite's timeout: ``flock`` has none, and polling for the lock instead
    would bring back the sleeps this queue removes.
    Writers outside requests (the command line) do not queue here and keep SQLite's
    busy timeout; the kernel releases the lock of a process that dies.
    """

    def __init__(self, database: str, timeout: float):
        self.path = database + "-writers"
        self.timeout = timeout
        self._open_lock = threading.Lock()
        self._reset()
        # A lock belongs to the open file: a forked worker opens its own.
        os.register_at_fork(after_in_child=partial(_reset_after_fork, weakref.ref(self)))

    def _reset(self) -> None:
        """Forget the parent's open file, thread lock and turn (in a forked child)."""
        inherited = getattr(self, "_fd", None)
        if inherited is not None:
            os.close(inherited)  # the parent's own descriptor keeps its lock, if it has one
        self._fd: int | None = None
        self._thread_lock = threading.Lock()
        self._held = threading.local()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def _file(self) -> int:
        with self._open_lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._fd

    @property
    def held(self) -> bool:
        return getattr(self._held, "value", False)

    def acquire(self) -> None:
        if self.held:
            return
        fd = self._file()
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise OperationalError(
                "waiting for the write lock", None, sqlite3.OperationalError("database is locked")
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self._held.value = True
        _turns.__dict__.setdefault("queues", []).append(self)

    def release(self) -> None:
        if not self.held:
            return
        self._held.value = False
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


def _reset_after_fork(queue: weakref.ref[WriterQueue]) -> None:
    if (alive := queue()) is not None:
        alive._reset()


# The queues whose turn this thread holds.
_turns = threading.local()
os.register_at_fork(after_in_child=lambda: _turns.__dict__.clear())


def init_app(app: Flask) -> None:
    """Configure the app's engines and answer database outages with 503."""
    queued = False
    with app.app_context():
        for engine in db.engines.values():
            queue = configure_engine(
                engine,
                busy_timeout=app.config.get("SQLITE_BUSY_TIMEOUT", 10.0),
                synchronous=app.config.get("SQLITE_SYNCHRONOUS", "full"),
            )
            queued = queued or queue is not None
    if queued and not event.contains(OrmSession, "after_commit", release_writer_queues):
        # The turn ends with the transaction; at the latest when the request ends.
        event.listen(OrmSession, "after_commit", release_writer_queues)
        event.listen(OrmSession, "after_rollback", release_writer_queues)
    app.register_error_handler(DBAPIError, database_unavailable)
    app.register_error_handler(DisconnectionError, database_unavailable)
    # Runs before Flask-SQLAlchemy's own teardown (the last registered runs first).
    app.teardown_appcontext(remove_session)


def remove_session(_error: BaseException | None) -> None:
    """End the request's session; one whose connection broke is dropped, not rolled back.

    Rolling back on a connection the database has closed (PostgreSQL restarting) raises,
    and an exception raised while tearing down escapes Flask: the client would get a bare
    500 instead of the 503 already chosen.
    """
    try:
        db.session.remove()
    except DBAPIError:
        db.session().invalidate()
        db.session.registry.clear()
    finally:
        release_writer_queues()


def release_writer_queues(*_args: Any) -> None:
    """End this thread's turn to write, if it has one (see ``WriterQueue``)."""
    queues = getattr(_turns, "queues", None)
    while queues:
        queues.pop().release()


def _may_write() -> bool:
    """True in a request that may write; false in reads and outside requests (the CLI)."""
    return has_request_context() and request.method not in READ_METHODS


def _writing() -> bool:
    """True in a request that takes the write lock before its first statement."""
    return _may_write() and request.endpoint not in DEFERRED_WRITE_ENDPOINTS


def configure_engine(
    engine: Engine, *, busy_timeout: float, synchronous: str = "full"
) -> WriterQueue | None:
    """SQLite: WAL mode and a busy timeout on every connection, write lock up front on writes.

    ``synchronous`` is SQLite's setting: ``full`` syncs the log to disk at every commit (an
    acknowledged save survives a power cut); ``normal`` syncs only at checkpoints (a save
    survives a crash of the app, not of the machine) and lets commits follow each other
    without waiting for the disk.
    """
    if synchronous not in ("full", "normal"):
        raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    queue = (
        WriterQueue(os.path.abspath(database), busy_timeout)
        if database and database != ":memory:" and not database.startswith("file:")
        else None
    )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
            # Kept in the file; switching needs the write lock once, and waits like a writer.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # Run before the transaction's first statement; the sqlite3 module then sees a
        # transaction under way and begins none of its own.
        if _writing():
            if queue is not None:
                queue.acquire()
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    if queue is not None:

        @event.listens_for(engine, "before_cursor_execute")
        def before_write(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # The deferred writers (DEFERRED_WRITE_ENDPOINTS) queue at their first write.
            if (
                not queue.held
                and statement[:6].upper() in ("INSERT", "UPDATE", "DELETE")
                and _may_write()
            ):
                queue.acquire()

    return queue


def database_unavailable(error: Exception) -> Any:
    """Roll back and answer 503 with Retry-After: nothing was saved, try again shortly.

    Only for a database that cannot be reached or answer (a lost or refused connection, a
    lock not granted in time); any other database error is a bug, and stays a 500.
    """
    unreachable = isinstance(error, (OperationalError, InterfaceError, DisconnectionError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )
    if not unreachable:
        raise error
    try:
        db.session.rollback()
    except DBAPIError:  # the connection is gone; dropping the session is all that is left
        db.session().invalidate()
    message = "The database is unavailable for a moment: nothing was saved. Try again."
    response: Response = (
        jsonify(error="database unavailable", message=message)
        if wants_json()
        else Response(message, mimetype="text/plain")
    )
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
