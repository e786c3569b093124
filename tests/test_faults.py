"""Faults under load: nothing acknowledged is lost, clients are told to retry, the app recovers.

Real gunicorn (a subprocess, deploy/gunicorn.conf.py when present) on the ``project``'s
database, SQLite and PostgreSQL; clients save the way the coding page's autosave does
(labels.json with the revision, again on a network error or a 5xx). A 409 whose saved
values are the ones sent acknowledges a save whose answer was lost.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from annotator.database import configure_engine
from annotator.extensions import db
from annotator.models import Document, LabelSet, User
from annotator.services import labels as label_service

from .conftest import PASSWORD, AuthActions, Project, RequestPerContextClient, make_app
from .pgserver import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
# (coder, document) label sets of the ``project``: two each for alice and bob.
LABEL_SETS = [
    ("alice", "zh_cid_font.pdf"),
    ("alice", "en_two_pages.pdf"),
    ("bob", "zh_cid_font.pdf"),
    ("bob", "report.html"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """gunicorn on 127.0.0.1 with the app on the test's database."""

    process: subprocess.Popen[bytes]
    port: int

    def workers(self) -> list[int]:
        """The master's children (its workers), from /proc."""
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()


@pytest.fixture
def server(app: Flask, project: Project, tmp_path: Path) -> Iterator[Server]:
    """gunicorn with two workers, serving the ``project``."""
    db.session.remove()  # the server's workers write now; keep no transaction open here
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    environment |= {
        "ANNOTATOR_SECRET_KEY": "faults-test-" + "k" * 32,
        "ANNOTATOR_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "ANNOTATOR_DATA_DIR": app.config["DATA_DIR"],
        "ANNOTATOR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    port = free_port()
    command = [str(GUNICORN)]
    if GUNICORN_CONF.exists():
        command += ["--config", str(GUNICORN_CONF)]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"]
    command += ["--error-logfile", str(tmp_path / "gunicorn.log"), "annotator:create_app()"]
    process = subprocess.Popen(
        command, env=environment, cwd=tmp_path, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    running = Server(process, port)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            if running.get("/login") == 200 and len(running.workers()) == 2:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)
    yield running
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Retry(Exception):
    """No answer, or a 5xx: the autosave would try again."""


@dataclass
class Coder:
    """One browser tab saving one label set as the autosave does, recording what was saved."""

    port: int
    username: str
    document_id: int
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    revision: int = 0
    acknowledged: tuple[int, str] | None = None  # (revision, the account_name saved)
    retries: int = 0
    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)

    def request(self, method: str, path: str, body: str = "", **headers: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body.encode() or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise Retry(repr(error)) from error
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";")[0]
        if response.status >= 500:
            self.answers.append((response.status, dict(response.headers), data))
            raise Retry(str(response.status))
        return response.status, data

    def log_in(self) -> None:
        _, page = self.request("GET", "/login")
        match = CSRF.search(page.decode())
        assert match
        form = {"username": self.username, "password": PASSWORD, "csrf_token": match.group(1)}
        status, _ = self.request(
            "POST",
            "/login",
            urllib.parse.urlencode(form),
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 302
        status, page = self.request("GET", f"/code/{self.document_id}")
        assert status == 200
        match = CSRF.search(page.decode())
        assert match
        self.csrf = match.group(1)

    def save(self, name: str, give_up: float) -> None:
        """Save ``account_name = name``; try again until acknowledged."""
        body = json.dumps({"values": {"account_name": name}, "revision": self.revision})
        while True:
            try:
                status, data = self.request(
                    "POST",
                    f"/code/{self.document_id}/labels.json",
                    body,
                    **{"Content-Type": "application/json", "X-CSRFToken": self.csrf},
                )
                break
            except Retry:
                self.retries += 1
                assert time.monotonic() < give_up, f"{self.username}: no answer in time"
                time.sleep(0.05)
        answer = json.loads(data)
        # 409 without differences: this very save was committed and its answer lost.
        assert status == 200 or (status == 409 and not answer["differences"]), (status, answer)
        assert answer["values"]["account_name"] == name
        self.revision = answer["revision"]
        self.acknowledged = (self.revision, name)

    def run(self, stop: threading.Event, give_up: float) -> int:
        """Save new values until ``stop`` is set; the number of saves acknowledged."""
        saves = 0
        while not stop.is_set():
            self.save(f"{self.username} {self.document_id} {saves}", give_up)
            saves += 1
        return saves


def coders(server: Server, project: Project) -> list[Coder]:
    """A logged-in tab for each label set of the project."""
    tabs = [
        Coder(server.port, username, project.document_ids[document])
        for username, document in LABEL_SETS
    ]
    for tab in tabs:
        tab.log_in()
    return tabs


def under_load(tabs: list[Coder], fault: Callable[[], None], seconds: float = 3) -> list[int]:
    """Run the tabs for ``seconds`` with ``fault`` called in between; saves per tab."""
    stop = threading.Event()
    counts = [0] * len(tabs)
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            counts[index] = tabs[index].run(stop, time.monotonic() + 60)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tabs))]
    for thread in threads:
        thread.start()
    try:
        time.sleep(seconds / 3)
        fault()
        time.sleep(seconds * 2 / 3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert not failures, failures
    return counts


def assert_nothing_lost(tabs: list[Coder]) -> None:
    """The database holds, for every label set, exactly the last acknowledged save."""
    db.session.remove()
    for tab in tabs:
        user = db.session.scalar(select(User).where(User.username == tab.username))
        assert user is not None and tab.acknowledged is not None
        label_set = db.session.scalar(
            select(LabelSet).where(
                LabelSet.document_id == tab.document_id, LabelSet.coder_id == user.id
            )
        )
        assert label_set is not None
        assert (label_set.revision, label_set.values()["account_name"]) == tab.acknowledged
    db.session.remove()


def test_a_worker_killed_during_saves_loses_no_acknowledged_save(
    server: Server, project: Project
) -> None:
    tabs = coders(server, project)
    killed: list[int] = []

    def kill_workers() -> None:
        for _ in range(2):
            victim = server.workers()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            time.sleep(0.5)

    counts = under_load(tabs, kill_workers)
    assert all(count > 0 for count in counts), counts
    assert sum(tab.retries for tab in tabs) > 0, "no save was cut off by the kills"
    assert_nothing_lost(tabs)
    # The master replaced the workers; the same server answers, not restarted.
    assert server.process.poll() is None
    assert not set(killed) & set(server.workers())
    for tab in tabs:
        tab.save("after the faults", time.monotonic() + 10)
    assert_nothing_lost(tabs)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_restarted_during_saves_gets_503_then_recovers(
    server: Server, project: Project, postgres_server: PostgresServer
) -> None:
    tabs = coders(server, project)
    workers = server.workers()

    counts = under_load(tabs, postgres_server.restart, seconds=4)
    assert all(count > 0 for count in counts), counts
    assert_nothing_lost(tabs)
    refused = [answer for tab in tabs for answer in tab.answers]
    # Some saves met the restart; every such answer was a retryable 503, not a crash.
    assert refused, "no save met the restart"
    for status, headers, data in refused:
        assert status == 503, (status, data)
        assert headers["Retry-After"] == "1"
        assert json.loads(data)["error"] == "database unavailable"
    # Recovered without restarting gunicorn or its workers.
    assert server.workers() == workers
    for tab in tabs:
        tab.save("after the restart", time.monotonic() + 10)
    assert_nothing_lost(tabs)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_locked_beyond_the_timeout_is_503_and_nothing_is_saved(
    app: Flask, project: Project, tmp_path: Path
) -> None:
    short = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "data", SQLITE_BUSY_TIMEOUT=0.2
    )
    short.test_client_class = RequestPerContextClient
    auth = AuthActions(short.test_client())
    assert auth.login("alice").status_code == 302
    document_id = project.document_ids["en_two_pages.pdf"]
    holder = sqlite3.connect(
        app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), isolation_level=None
    )
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    try:
        refused = auth.post_json(
            f"/code/{document_id}/labels.json", {"values": {"account_name": "x"}}
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.get_json()["error"] == "database unavailable"
    saved = auth.post_json(f"/code/{document_id}/labels.json", {"values": {"account_name": "x"}})
    assert saved.status_code == 200
    assert saved.get_json()["revision"] == 1  # the refused save wrote nothing
    with short.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_concurrent_sqlite_writers_wait_instead_of_failing(app: Flask, project: Project) -> None:
    """Threads that each read a label set and then write it, at once: all succeed.

    Each save reads before it writes; in WAL mode a deferred transaction whose snapshot is
    older than another writer's commit cannot write at all, so a request that writes takes
    the lock up front (BEGIN IMMEDIATE) and waits for it (the busy timeout).
    """
    db.session.remove()
    pairs = [(project.users[name], project.document_ids[document]) for name, document in LABEL_SETS]
    saves, errors = 25, []

    def work(coder_id: int, document_id: int) -> None:
        for index in range(saves):
            with app.test_request_context("/", method="POST"):
                try:
                    coder = db.session.get(User, coder_id)
                    document = db.session.get(Document, document_id)
                    assert coder is not None and document is not None
                    assignment = label_service.find_assignment(db.session, document, coder)
                    assert assignment is not None
                    label_set = label_service.label_set_for(
                        db.session, document, coder, assignment.codebook.latest, create=True
                    )
                    assert label_set is not None
                    label_service.save_labels(
                        db.session, label_set, coder, {"service_count": index + 1}
                    )
                    db.session.commit()
                except Exception as error:
                    errors.append(error)
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=work, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for coder_id, document_id in pairs:
        label_set = db.session.scalar(
            select(LabelSet).where(
                LabelSet.coder_id == coder_id, LabelSet.document_id == document_id
            )
        )
        assert label_set is not None
        assert (label_set.revision, label_set.values()["service_count"]) == (saves, saves)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_connections_use_wal_and_the_busy_timeout(app: Flask) -> None:
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_configure_engine_refuses_an_unknown_synchronous_setting() -> None:
    from sqlalchemy import create_engine

    with pytest.raises(ValueError, match="synchronous"):
        configure_engine(create_engine("sqlite://"), busy_timeout=1, synchronous="off")


def test_two_saves_naming_the_same_revision_at_once_never_both_succeed(
    app: Flask, project: Project
) -> None:
    """Two tabs save at the same moment: the second waits for the first and is refused.

    Without the lock, on PostgreSQL both would read revision 1 and pass the check, and the
    second would overwrite the first without a word.
    """
    from annotator.models import Assignment

    coder_id = project.users["alice"]
    document_id = project.document_ids["en_two_pages.pdf"]
    assignment = db.session.scalar(
        select(Assignment).where(
            Assignment.coder_id == coder_id, Assignment.document_id == document_id
        )
    )
    assert assignment is not None
    codebook_id = assignment.codebook_id
    coder = db.session.get(User, coder_id)
    document = db.session.get(Document, document_id)
    assert coder is not None and document is not None
    label_set_for = label_service.label_set_for
    created = label_set_for(db.session, document, coder, assignment.codebook.latest, create=True)
    assert created is not None
    label_set_id = created.id
    db.session.commit()
    db.session.remove()
    first_has_read = threading.Event()
    outcomes: dict[str, object] = {}

    def save(name: str, value: int, hold: float) -> None:
        with app.test_request_context("/", method="POST"):
            try:
                label_set = label_service.find_label_set(
                    db.session, document_id, coder_id, codebook_id, for_update=True
                )
                assert label_set is not None  # the second one waits here for the first
                user = db.session.get(User, coder_id)
                assert user is not None
                first_has_read.set()
                time.sleep(hold)  # the other tab's save arrives meanwhile
                label_service.save_labels(
                    db.session, label_set, user, {"service_count": value}, expected_revision=0
                )
                db.session.commit()
                outcomes[name] = "saved"
            except label_service.StaleRevision:
                outcomes[name] = "stale"
            except Exception as error:
                outcomes[name] = error
            finally:
                first_has_read.set()
                db.session.remove()

    first = threading.Thread(target=save, args=("first", 1, 0.5))
    first.start()
    assert first_has_read.wait(10)
    second = threading.Thread(target=save, args=("second", 2, 0))
    second.start()
    first.join(30)
    second.join(30)
    assert outcomes == {"first": "saved", "second": "stale"}
    label_set = db.session.get(LabelSet, label_set_id)
    assert label_set is not None
    assert (label_set.revision, label_set.values()["service_count"]) == (1, 1)


def test_autosaves_of_one_label_set_from_many_threads_at_once_all_land(
    app: Flask, project: Project
) -> None:
    """Four tabs autosave the same label set at once, in the autosave's own request context.

    The autosave reads without a lock and writes on condition that the revision is still
    the one it read (on SQLite it takes the write lock only then). Saves naming no revision
    that lose the race are made again on the new state: none fails, none is lost.
    """
    coder_id = project.users["alice"]
    document_id = project.document_ids["en_two_pages.pdf"]
    db.session.remove()
    saves, tabs, errors = 15, 4, []
    path = f"/code/{document_id}/labels.json"
    start = threading.Barrier(tabs)

    def tab(index: int) -> None:
        start.wait()
        for number in range(1, saves + 1):
            with app.test_request_context(path, method="POST"):
                try:
                    assigned = label_service.assigned_state(db.session, document_id, coder_id)
                    assert assigned is not None
                    codebook_id, state = assigned
                    if state is None:
                        state = label_service.create_state(
                            db.session, document_id, coder_id, codebook_id
                        )
                    assert state is not None
                    label_service.save_state(
                        db.session, state, coder_id, {"account_name": f"tab {index} save {number}"}
                    )
                    db.session.commit()
                except Exception as error:
                    errors.append(error)
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=tab, args=(index,)) for index in range(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    label_set = db.session.scalar(
        select(LabelSet).where(LabelSet.coder_id == coder_id, LabelSet.document_id == document_id)
    )
    assert label_set is not None
    assert label_set.revision == saves * tabs
    names = [event.after for event in label_service.history(db.session, label_set)]
    assert len(names) == saves * tabs
    for index in range(tabs):  # each tab's saves landed in its own order
        mine = [name for name in names if name.startswith(f"tab {index} ")]
        assert mine == [f"tab {index} save {number}" for number in range(1, saves + 1)]
    assert label_set.values()["account_name"] == names[-1]


HOLD_WRITERS_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_writers_lock(database_url: str, seconds: float) -> subprocess.Popen[str]:
    """Another server process holding its turn to write for ``seconds``."""
    path = database_url.removeprefix("sqlite:///") + "-writers"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITERS_LOCK, path, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def writers_lock_is_free(database_url: str) -> bool:
    import fcntl

    fd = os.open(database_url.removeprefix("sqlite:///") + "-writers", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_writers_of_two_processes_take_turns_instead_of_failing(
    app: Flask, project: Project
) -> None:
    """A save that meets another process's write waits for its turn, then saves."""
    app.test_client_class = RequestPerContextClient
    auth = AuthActions(app.test_client())
    assert auth.login("alice").status_code == 302
    url = f"/code/{project.document_ids['en_two_pages.pdf']}/labels.json"
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    holder = hold_writers_lock(database_url, 0.6)
    began = time.monotonic()
    saved = auth.post_json(url, {"values": {"account_name": "waited"}})
    waited = time.monotonic() - began
    holder.wait(10)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert waited > 0.3  # it queued behind the other process instead of failing
    # The turn ends with the request, whatever its outcome: saved, refused or stale.
    assert writers_lock_is_free(database_url)
    refused = auth.post_json(url, {"values": {"service_count": -5}})
    assert refused.status_code == 422
    assert writers_lock_is_free(database_url)
    stale = auth.post_json(url, {"values": {"account_name": "old tab"}, "revision": 0})
    assert stale.status_code == 409
    assert writers_lock_is_free(database_url)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_save_that_cannot_get_its_turn_in_time_is_503_and_saves_nothing(
    app: Flask, project: Project, tmp_path: Path
) -> None:
    """Two saves in one process while another process writes for longer than the timeout.

    One waits for the other process; the second waits for the first within its process
    and, after the busy timeout, is told to try again. The first then saves.
    """
    short = make_app(
        app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "data", SQLITE_BUSY_TIMEOUT=0.3
    )
    short.test_client_class = RequestPerContextClient
    tabs = [AuthActions(short.test_client()) for _ in range(2)]
    for tab in tabs:
        assert tab.login("alice").status_code == 302
    documents = [project.document_ids["en_two_pages.pdf"], project.document_ids["zh_cid_font.pdf"]]
    answers: dict[int, Any] = {}

    def save(index: int) -> None:
        answers[index] = tabs[index].post_json(
            f"/code/{documents[index]}/labels.json", {"values": {"account_name": f"tab {index}"}}
        )

    holder = hold_writers_lock(app.config["SQLALCHEMY_DATABASE_URI"], 1.5)
    threads = [threading.Thread(target=save, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    holder.wait(10)
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [200, 503]
    refused = next(answer for answer in answers.values() if answer.status_code == 503)
    assert refused.headers["Retry-After"] == "1"
    assert refused.get_json()["error"] == "database unavailable"
    saved_values = {
        label_set.document_id: label_set.values().get("account_name")
        for label_set in db.session.scalars(
            select(LabelSet).where(LabelSet.coder_id == project.users["alice"])
        )
    }
    for index, answer in answers.items():
        expected = f"tab {index}" if answer.status_code == 200 else None
        assert saved_values.get(documents[index]) == expected
    with short.app_context():
        db.engine.dispose()


def test_a_forked_worker_does_not_inherit_its_parents_turn_to_write(tmp_path: Path) -> None:
    """A worker forked while its parent holds the turn waits for it like any other process."""
    from annotator.database import WriterQueue, release_writer_queues

    queue = WriterQueue(str(tmp_path / "db.sqlite3"), timeout=1)
    queue.acquire()
    child = os.fork()
    if child == 0:  # the forked worker
        code = 1
        try:
            import fcntl

            if not queue.held:  # not its parent's turn
                try:
                    fcntl.flock(queue._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    code = 0  # the parent still holds the file
        finally:
            os._exit(code)
    _pid, status = os.waitpid(child, 0)
    release_writer_queues()
    assert not queue.held
    assert os.waitstatus_to_exitcode(status) == 0
    assert writers_lock_is_free(f"sqlite:///{tmp_path / 'db.sqlite3'}")
