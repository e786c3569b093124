"""Benchmark: many coders at once against gunicorn, on SQLite and on PostgreSQL, nothing lost.

Each database gets a fresh project: a SQLite file, or a throw-away PostgreSQL server started
as tests/pgserver.py does; migrated with `annotator db upgrade`; the study codebook, five
documents per coder (copies of the demo corpus, each made distinct by a trailing comment;
252 for 50 coders), a PI and
the coders added with the app's services, assigned by rule (a 20 % reliability sample coded
by two coders, which is coded and submitted beforehand, as in the demo, so that the
dashboard has data). gunicorn serves it on 127.0.0.1 (deploy/gunicorn.conf.py when present;
workers and bind from the command line), and a client process (asyncio, raw HTTP/1.1, a
kept-alive connection per simulated browser, as browsers and nginx keep theirs) plays:

* **coders** (``--coders``, 50), each logged in, going through their documents: open one
  (the coding page, then the document file), autosave (POST labels.json with the whole
  form, as autosave.js sends it, one or two values changed each time) a few times, save it
  with the Save button (the form POST), and now and then submit it (the form POST with
  action=submit); a pause between actions (``--think``, exponential, mean 1 s); the
  coders start one after another, at random over the first ``--ramp-up`` seconds (10);
* **the PI**, loading the reliability dashboard (/reliability/) every 3 s on average;

for ``--seconds`` (60). Then **throughput**: 10 clients (``--clients``) saving with no pause
(labels.json) for ``--throughput-seconds`` (20).

Every acknowledged write is recorded by the client with its revision and values; at the end
the database must hold exactly that for every label set written (the last acknowledged
revision, status and values), or the run fails. With ``--faults``, the mixed load runs while
a gunicorn worker is killed (SIGKILL) every few seconds and, on PostgreSQL, the server is
restarted once; the client retries as the page's autosave does (on network errors and 5xx;
a 409 whose saved values are the ones sent is the acknowledgement of a save whose answer
was lost), and every acknowledged write must still be there.

Targets: label save (labels.json) p95 under 50 ms with the coders; at least 500 saves/s with
10 clients; no error response; no lost write.

    .venv/bin/python bench/load.py                               # both databases, 60 s, 50 coders
    .venv/bin/python bench/load.py --database sqlite --seconds 10 --coders 10 --throughput-seconds 5
    .venv/bin/python bench/load.py --faults --seconds 30         # the coders under faults only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CODEBOOK = ROOT / "codebook" / "wechat_policing.yaml"
CORPUS = ROOT / "annotator" / "demo" / "corpus"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"
HOST = "127.0.0.1"
DOCUMENTS_PER_CODER = 5
SAVE_P95_TARGET_MS = 50.0
THROUGHPUT_TARGET = 500.0
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
REVISION = re.compile(r'name="revision" type="hidden" value="(\d*)"')


# --- set-up ----------------------------------------------------------------------------------


def make_corpus(folder: Path, copies: int) -> list[Path]:
    """Copies of the demo corpus, each file made distinct by a comment after its end."""
    paths = []
    for copy in range(copies):
        target = folder / f"copy{copy:02d}"
        target.mkdir(parents=True)
        for source in sorted(CORPUS.iterdir()):
            data = source.read_bytes()
            marker = f"load benchmark copy {copy}"
            data += (
                f"\n%{marker}\n" if source.suffix == ".pdf" else f"\n<!-- {marker} -->\n"
            ).encode()
            path = target / source.name
            path.write_bytes(data)
            paths.append(path)
    return paths


def environment(url: str, scratch: Path, synchronous: str = "full") -> dict[str, str]:
    """The server's environment: only the settings it needs, nothing from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    env |= {
        "ANNOTATOR_SECRET_KEY": os.urandom(32).hex(),
        "ANNOTATOR_DATABASE_URL": url,
        "ANNOTATOR_DATA_DIR": str(scratch / "data"),
        "ANNOTATOR_INSTANCE_PATH": str(scratch / "instance"),
        "ANNOTATOR_SQLITE_SYNCHRONOUS": synchronous,
    }
    return env


def build_project(url: str, scratch: Path, coders: int) -> dict[str, Any]:
    """Migrate with `annotator db upgrade`, then fill with the app's services; returns the plan."""
    env = environment(url, scratch)
    subprocess.run([str(BIN / "annotator"), "db", "upgrade"], env=env, check=True, cwd=scratch)
    from annotator import create_app
    from annotator.demo import code_reliability_sample
    from annotator.extensions import db
    from annotator.metadata import read_metadata_csv
    from annotator.models import Assignment, LabelSet, LabelStatus, Role
    from annotator.services import assignments as assignment_service
    from annotator.services import users as user_service
    from annotator.services.codebooks import load_codebook_text
    from annotator.services.documents import import_files

    app = create_app(
        {
            "SECRET_KEY": env["ANNOTATOR_SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": url,
            "DATA_DIR": env["ANNOTATOR_DATA_DIR"],
        }
    )
    copies = max(1, math.ceil(coders * DOCUMENTS_PER_CODER / len(list(CORPUS.iterdir()))))
    with app.app_context():
        codebook = load_codebook_text(
            db.session, CODEBOOK.read_text(encoding="utf-8"), CODEBOOK.name
        ).version.codebook
        report = import_files(
            db.session,
            make_corpus(scratch / "corpus", copies),
            data_dir=app.config["DATA_DIR"],
            max_bytes=app.config["MAX_DOCUMENT_BYTES"],
            metadata=read_metadata_csv(ROOT / "annotator" / "demo" / "metadata.csv"),
        )
        assert not report.refused, report.summary_lines()
        user_service.add_user(db.session, "pi", Role.PI, PASSWORD)
        people = [
            user_service.add_user(db.session, f"coder{n:02d}", Role.CODER, PASSWORD)
            for n in range(coders)
        ]
        assignment_service.assign_by_rule(
            db.session, codebook, people, reliability_share=0.2, coders_per_document=2, seed=1
        )
        db.session.commit()
        code_reliability_sample(db.session, codebook)
        db.session.commit()
        submitted = {
            (ls.document_id, ls.coder_id)
            for ls in db.session.scalars(db.select(LabelSet))
            if ls.status is LabelStatus.SUBMITTED
        }
        documents: dict[str, list[int]] = defaultdict(list)
        for assignment in db.session.scalars(db.select(Assignment).order_by(Assignment.id)):
            if (assignment.document_id, assignment.coder_id) not in submitted:
                documents[assignment.coder.username].append(assignment.document_id)
        db.engine.dispose()
    return {
        "documents": dict(documents),
        "submitted_beforehand": len(submitted),
        "document_count": len(report.outcomes),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Gunicorn:
    """gunicorn serving the app, as a subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], scratch: Path, workers: int, extra: list[str]) -> Gunicorn:
        port = free_port()
        log = scratch / "gunicorn.log"
        command = [str(BIN / "gunicorn")]
        if GUNICORN_CONF.exists():
            command += ["--config", str(GUNICORN_CONF)]
        command += [
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--error-logfile",
            str(log),
            "--access-logfile",
            str(scratch / "access.log"),
            *extra,
            "annotator:create_app()",
        ]
        process = subprocess.Popen(command, env=env, cwd=scratch, stdin=subprocess.DEVNULL)
        server = cls(process, port, log)
        server.wait_ready(workers)
        return server

    def worker_pids(self) -> list[int]:
        """The master's children, read from /proc."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def wait_ready(self, workers: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1 200") and (
                        len(self.worker_pids()) >= workers
                    ):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer on port {self.port}: see {self.log}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the client ------------------------------------------------------------------------------


class Retryable(Exception):
    """The server could not answer (network error, 5xx): try again."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Stats:
    """Latencies by request type, errors, retries."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {detail[:300]}")


class Session:
    """One browser: a cookie jar and the HTTP it speaks, on one kept-alive connection.

    A browser keeps its connection open between requests, and nginx keeps its own to
    gunicorn open (``keepalive`` in deploy/nginx/annotator.conf), so the server sees
    reused connections, as here. A connection the server closed (a worker killed, a
    restart, gunicorn's keep-alive timeout) is opened again for the next request.
    """

    def __init__(self, port: int, stats: Stats, faults: bool):
        self.port = port
        self.stats = stats
        self.faults = faults
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection[1].close()
            self.connection = None

    async def exchange(self, raw: bytes) -> tuple[bytes, dict[str, str], bytes]:
        """Send one request on the kept connection; the status line, headers and body."""
        if self.connection is None:
            self.connection = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.connection
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, headers = parse_head(head)
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status_line, headers, body

    async def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
        record: bool = True,
    ) -> Response:
        """Send a request; time it under ``kind``; raise Retryable for what a page would retry."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if content_type:
            head.append(f"Content-Type: {content_type}")
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        start = time.perf_counter()
        try:
            status_line, headers, data = await self.exchange(raw)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as error:
            # Closed, reset or cut off: as the page's fetch would see it, a network error.
            self.close()
            self.stats.retries[kind] += 1
            raise Retryable(f"{kind}: {error!r}") from error
        elapsed = (time.perf_counter() - start) * 1000
        response = Response(int(status_line.split()[1]), headers, data)
        for header, value in response.headers.items():
            if header == "set-cookie":
                for cookie in value.split("\n"):
                    name, _, rest = cookie.partition("=")
                    content = rest.split(";")[0]
                    if "Max-Age=0" in cookie or "expires=Thu, 01 Jan 1970" in cookie:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = content
        if response.status >= 500:
            self.stats.retries[kind] += 1
            if response.status != 503 or not self.faults:
                self.stats.error(kind, f"{response.status} {response.body[:200]!r}")
            raise Retryable(f"{kind}: {response.status}")
        if record:
            self.stats.times[kind].append(elapsed)
        return response

    async def login(self, username: str) -> None:
        page = await self.request("login", "GET", "/login", record=False)
        match = CSRF.search(page.body.decode())
        assert match, "no CSRF token on the login page"
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": match.group(1)}
        ).encode()
        answer = await self.request(
            "login", "POST", "/login", form, "application/x-www-form-urlencoded", record=False
        )
        assert answer.status == 302, (username, answer.status)


def parse_head(head: bytes) -> tuple[bytes, dict[str, str]]:
    """The status line and the headers (lower-case names; repeated ones joined by newlines)."""
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = headers[key] + "\n" + value.strip() if key in headers else value.strip()
    return lines[0].encode("latin-1"), headers


class Values:
    """Whole-form values for the study codebook, varied from save to save."""

    def __init__(self, seed: int):
        from annotator.codebook import load_codebook

        self.codebook = load_codebook(CODEBOOK)
        self.rng = random.Random(seed)
        self.counter = 0

    def draw(self) -> dict[str, Any]:
        """A complete, valid set of values; ``account_name`` differs every time."""
        self.counter += 1
        values: dict[str, Any] = {}
        for variable in self.codebook.variables:
            kind = variable.type.value
            if kind in ("single", "ordinal"):
                values[variable.id] = self.rng.choice(variable.codes)
            elif kind == "multiple":
                values[variable.id] = self.rng.sample(variable.codes, self.rng.randint(1, 3))
            elif kind == "number":
                low = int(variable.minimum or 0)
                high = int(variable.maximum) if variable.maximum is not None else low + 1000
                values[variable.id] = self.rng.randint(low, high)
            elif kind == "yesno":
                values[variable.id] = self.rng.random() < 0.5
            else:
                values[variable.id] = f"{variable.id} {self.counter} 公众号"
        values["account_name"] = f"警民通 {self.rng.random():.9f}"
        return values

    def change(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values after the coder changed one or two fields."""
        changed = dict(values)
        fresh = self.draw()
        for name in self.rng.sample(sorted(fresh), self.rng.randint(1, 2)):
            changed[name] = fresh[name]
        changed["account_name"] = fresh["account_name"]  # every save writes
        return changed

    def form(self, values: dict[str, Any], revision: int, csrf: str, action: str) -> bytes:
        """The coding form as the browser posts it."""
        fields: list[tuple[str, str]] = [("csrf_token", csrf), ("revision", str(revision))]
        for name, value in values.items():
            if isinstance(value, list):
                fields += [(f"v_{name}", code) for code in value]
            elif isinstance(value, bool):
                fields.append((f"v_{name}", "yes" if value else "no"))
            else:
                fields.append((f"v_{name}", str(value)))
        fields += [("note", ""), ("action", action)]
        return urllib.parse.urlencode(fields).encode()


@dataclass
class Acknowledged:
    """What the server said it saved for one label set (the last acknowledgement)."""

    coder: str
    document_id: int
    revision: int
    status: str
    values: dict[str, Any]


class Client:
    """The simulated people, the acknowledged writes, the statistics."""

    def __init__(self, plan: dict[str, Any]):
        self.plan = plan
        self.port = plan["port"]
        self.faults = plan["faults"]
        self.acked: dict[tuple[str, int], Acknowledged] = {}
        self.revisions: dict[tuple[str, int], int] = {}
        self.values = Values(plan["seed"])
        self.rng = random.Random(plan["seed"])
        self.deadline = 0.0

    def stop_at(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    async def patiently(self, attempt: Any, give_up: float = 30) -> Any:
        """Call ``attempt`` until it does not raise Retryable, as the autosave retries."""
        delay, stop = 0.1, time.monotonic() + give_up
        while True:
            try:
                return await attempt()
            except Retryable:
                if time.monotonic() > stop:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def open_document(self, session: Session, coder: str, document_id: int) -> None:
        page = await self.patiently(
            lambda: session.request("coding page", "GET", f"/code/{document_id}")
        )
        text = page.body.decode()
        token, revision = CSRF.search(text), REVISION.search(text)
        if page.status != 200 or not token or not revision:
            session.stats.error("coding page", f"{page.status}")
            return
        session.csrf = token.group(1)
        self.revisions[(coder, document_id)] = int(revision.group(1) or 0)
        file = await self.patiently(
            lambda: session.request("document file", "GET", f"/documents/{document_id}/file")
        )
        if file.status != 200 or not file.body:
            session.stats.error("document file", f"{file.status}")

    async def save(
        self,
        session: Session,
        coder: str,
        document_id: int,
        values: dict[str, Any],
        *,
        kind: str,
        submit: bool = False,
    ) -> bool:
        """One save (autosave JSON, or the form's Save or Submit); record the acknowledgement.

        A save whose answer is lost (network error, 5xx) is sent again, as JSON, naming the
        same revision: if the first one was committed, the server answers 409 with the values
        it holds, which are the ones sent, and that is the acknowledgement.
        """
        key = (coder, document_id)
        revision = self.revisions[key]
        try:
            if kind == "autosave":
                response = await self._json_save(
                    session, kind, document_id, values, revision, submit
                )
            else:
                form = self.values.form(
                    values, revision, session.csrf, "submit" if submit else "save"
                )
                response = await session.request(
                    kind, "POST", f"/code/{document_id}", form, "application/x-www-form-urlencoded"
                )
                if response.status == 302:
                    self._acknowledge(key, revision + 1, submit, values)
                    return True
                session.stats.error(kind, f"{response.status} {response.body[:300]!r}")
                return False
        except Retryable:
            response = await self.patiently(
                lambda: self._json_save(session, kind, document_id, values, revision, submit)
            )
        return self._json_answer(session, key, kind, response, values, submit)

    async def _json_save(
        self,
        session: Session,
        kind: str,
        document_id: int,
        values: dict[str, Any],
        revision: int,
        submit: bool,
    ) -> Response:
        body = json.dumps({"values": values, "note": "", "revision": revision, "submit": submit})
        return await session.request(
            kind,
            "POST",
            f"/code/{document_id}/labels.json",
            body.encode(),
            "application/json",
            {"X-CSRFToken": session.csrf},
        )

    def _json_answer(
        self,
        session: Session,
        key: tuple[str, int],
        kind: str,
        response: Response,
        values: dict[str, Any],
        submit: bool,
    ) -> bool:
        answer = response.json()
        if response.status == 200:
            self._acknowledge(
                key, answer["revision"], answer["status"] == "submitted", answer["values"]
            )
            return True
        if response.status == 409 and not answer.get("differences"):
            # Our own save, committed before its answer was lost.
            self._acknowledge(key, answer["revision"], submit, answer["values"])
            return True
        session.stats.error(kind, f"{response.status} {response.body[:300]!r}")
        return False

    def _acknowledge(
        self, key: tuple[str, int], revision: int, submitted: bool, values: dict[str, Any]
    ) -> None:
        self.revisions[key] = revision
        self.acked[key] = Acknowledged(
            key[0], key[1], revision, "submitted" if submitted else "in_progress", values
        )

    async def think(self, mean: float) -> None:
        """Pause (exponential, at most 5 means), and never past the end of the run."""
        pause = min(self.rng.expovariate(1 / mean), mean * 5) if mean > 0 else 0
        await asyncio.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))

    async def coder(
        self, session: Session, coder: str, documents: list[int], think: float, ramp_up: float
    ) -> None:
        """Open a document, autosave a few times, save; sometimes submit; the next one.

        A coder starts at a random moment of the first ``ramp_up`` seconds: a team does not
        open fifty coding pages in the same millisecond, and a run that did would measure
        that one queue rather than the team's day.
        """
        queue = list(documents)
        await asyncio.sleep(self.rng.uniform(0, min(ramp_up, self.deadline - time.monotonic())))
        while queue and time.monotonic() < self.deadline:
            document_id = queue.pop(0)
            await self.open_document(session, coder, document_id)
            if (coder, document_id) not in self.revisions:
                continue
            values = self.values.draw()
            for _ in range(self.rng.randint(3, 8)):
                await self.think(think)
                if time.monotonic() >= self.deadline:
                    return
                values = self.values.change(values)
                await self.save(session, coder, document_id, values, kind="autosave")
            await self.think(think)
            values = self.values.change(values)
            await self.save(session, coder, document_id, values, kind="save")
            if self.rng.random() < 0.25:
                await self.think(think)
                await self.save(session, coder, document_id, values, kind="submit", submit=True)
            else:
                queue.append(document_id)  # back to it later

    async def pi(self, session: Session, think: float) -> None:
        while time.monotonic() < self.deadline:
            page = await self.patiently(
                lambda: session.request("reliability dashboard", "GET", "/reliability/")
            )
            if page.status != 200:
                session.stats.error("reliability dashboard", str(page.status))
            await self.think(think)

    async def saver(self, session: Session, coder: str, document_id: int) -> int:
        """Save with no pause until the deadline; the number of saves acknowledged."""
        values, saves = self.values.draw(), 0
        while time.monotonic() < self.deadline:
            values = self.values.change(values)
            saves += await self.save(session, coder, document_id, values, kind="autosave")
        return saves


async def run_client(plan: dict[str, Any]) -> dict[str, Any]:
    """Log everyone in, run the mixed load, then the throughput clients; return the figures."""
    client = Client(plan)
    mixed, burst = Stats(), Stats()
    sessions = {}
    for name in [*plan["documents"], "pi"]:
        sessions[name] = Session(client.port, mixed, client.faults)
        await client.patiently(lambda name=name: sessions[name].login(name))
    pi = sessions.pop("pi")
    Path(plan["ready_file"]).touch()  # the faults may begin
    result: dict[str, Any] = {"load_before": os.getloadavg()}

    client.stop_at(plan["seconds"])
    start, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    master, server_before = plan["master"], server_cpu(plan["master"])
    await asyncio.gather(
        client.pi(pi, plan["pi_think"]),
        *(
            client.coder(sessions[name], name, documents, plan["think"], plan["ramp_up"])
            for name, documents in plan["documents"].items()
        ),
    )
    result["mixed"] = figures(mixed, time.monotonic() - start, cpu, master, server_before)
    result["load_after_mixed"] = os.getloadavg()

    if plan["throughput_seconds"] > 0 and not client.faults:
        open_sets = [
            (name, document_id)
            for name, documents in plan["documents"].items()
            for document_id in documents
            if client.acked.get((name, document_id), None) is None
            or client.acked[(name, document_id)].status != "submitted"
        ]
        chosen: dict[str, int] = {}
        for name, document_id in open_sets:
            chosen.setdefault(name, document_id)
        pairs = list(chosen.items())[: plan["clients"]]
        for name, document_id in pairs:
            sessions[name].stats = burst
            if (name, document_id) not in client.revisions:
                await client.open_document(sessions[name], name, document_id)
        burst.times.clear()
        client.stop_at(plan["throughput_seconds"])
        start, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        server_before = server_cpu(master)
        await asyncio.gather(
            *(client.saver(sessions[name], name, document_id) for name, document_id in pairs)
        )
        result["throughput"] = figures(burst, time.monotonic() - start, cpu, master, server_before)
        result["throughput"]["clients"] = len(pairs)
        result["load_after_throughput"] = os.getloadavg()
    result["acknowledged"] = [vars(ack) for ack in client.acked.values()]
    for session in [*sessions.values(), pi]:
        session.close()
    return result


def server_cpu(master: int) -> float:
    """CPU seconds used by gunicorn: the master, its live workers and those it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")

    def times(pid: int, fields: slice) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        return sum(int(value) for value in stat.rsplit(")", 1)[1].split()[fields]) / tick

    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    # After the command's ")": utime, stime, cutime, cstime are fields 12 to 15.
    return times(master, slice(11, 15)) + sum(times(int(pid), slice(11, 13)) for pid in children)


def figures(
    stats: Stats, seconds: float, cpu_before: Any, master: int, server_before: float
) -> dict[str, Any]:
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "server_cpu_seconds": server_cpu(master) - server_before,
        "client_cpu_seconds": cpu.ru_utime
        + cpu.ru_stime
        - cpu_before.ru_utime
        - cpu_before.ru_stime,
        "times": dict(stats.times),
        "errors": dict(stats.errors),
        "error_samples": stats.samples,
        "retries": dict(stats.retries),
    }


# --- checking and reporting ------------------------------------------------------------------


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank percentile of samples (share between 0 and 1)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def lost_writes(url: str, acknowledged: list[dict[str, Any]]) -> list[str]:
    """Every difference between the acknowledged writes and the database: none expected."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session as OrmSession

    from annotator.codebook import load_codebook
    from annotator.models import LabelSet, User

    codebook = load_codebook(CODEBOOK)
    engine = create_engine(url)
    problems = []

    def clean(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in codebook.normalize_values(values).items() if v is not None}

    with OrmSession(engine) as session:
        coder_ids = {user.username: user.id for user in session.scalars(select(User))}
        for ack in acknowledged:
            label_set = session.scalar(
                select(LabelSet).where(
                    LabelSet.document_id == ack["document_id"],
                    LabelSet.coder_id == coder_ids[ack["coder"]],
                )
            )
            where = f"{ack['coder']} document {ack['document_id']}"
            if label_set is None:
                problems.append(
                    f"{where}: acknowledged revision {ack['revision']}, not in the database"
                )
                continue
            if label_set.revision != ack["revision"] or label_set.status.value != ack["status"]:
                problems.append(
                    f"{where}: acknowledged revision {ack['revision']} ({ack['status']}), "
                    f"database has {label_set.revision} ({label_set.status.value})"
                )
            if clean(label_set.values()) != clean(ack["values"]):
                problems.append(f"{where}: the values differ from the acknowledged ones")
    engine.dispose()
    return problems


def report(database: str, result: dict[str, Any], problems: list[str], args: Any) -> bool:
    """Print the figures and whether each target was met; True when all were."""
    ok = True
    print(
        f"\n== {database}: {args.coders} coders + the PI, {args.seconds:.0f} s, think {args.think} s =="
    )
    print(
        f"load average before: {fmt_load(result['load_before'])}; "
        f"after the mixed load: {fmt_load(result['load_after_mixed'])}"
    )
    for phase in ("mixed", "throughput"):
        if phase not in result:
            continue
        data = result[phase]
        if phase == "throughput":
            print(
                f"-- throughput: {data['clients']} clients saving without pause, "
                f"{data['seconds']:.1f} s; load average after: "
                f"{fmt_load(result['load_after_throughput'])}"
            )
        requests = sum(len(samples) for samples in data["times"].values())
        print(
            f"   CPU: gunicorn {data['server_cpu_seconds']:.1f} s "
            f"({data['server_cpu_seconds'] * 1000 / max(requests, 1):.2f} ms a request), "
            f"client process {data['client_cpu_seconds']:.1f} s, over {data['seconds']:.1f} s"
        )
        print(
            f"   {'request':<22} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        )
        for kind, samples in sorted(data["times"].items()):
            print(
                f"   {kind:<22} {len(samples):>7} {len(samples) / data['seconds']:>7.1f} "
                f"{percentile(samples, 0.5):>8.1f} {percentile(samples, 0.95):>8.1f} "
                f"{percentile(samples, 0.99):>8.1f} {max(samples):>8.1f}"
            )
        if data["retries"]:
            print(f"   retried (network error or 5xx): {data['retries']}")
        if data["errors"]:
            ok = False
            print(f"   ERRORS: {data['errors']}")
            for sample in data["error_samples"]:
                print(f"     {sample}")
    saves = result["mixed"]["times"].get("autosave", [])
    if saves and not args.faults:
        p95 = percentile(saves, 0.95)
        met = p95 < SAVE_P95_TARGET_MS
        ok &= met
        print(
            f"label save (autosave) p95 with {args.coders} coders: {p95:.1f} ms — target "
            f"< {SAVE_P95_TARGET_MS:.0f} ms: {'met' if met else 'NOT MET'}"
        )
    if "throughput" in result:
        data = result["throughput"]
        rate = len(data["times"].get("autosave", [])) / data["seconds"]
        met = rate >= THROUGHPUT_TARGET
        ok &= met
        print(
            f"saves/s with {data['clients']} clients: {rate:.0f} — target >= "
            f"{THROUGHPUT_TARGET:.0f}: {'met' if met else 'NOT MET'}"
        )
    errors = sum(sum(result[p]["errors"].values()) for p in ("mixed", "throughput") if p in result)
    print(f"error responses: {errors} — target 0: {'met' if errors == 0 else 'NOT MET'}")
    print(
        f"label sets written: {len(result['acknowledged'])}; lost writes: {len(problems)} — "
        f"target 0: {'met' if not problems else 'NOT MET'}"
    )
    for problem in problems[:20]:
        print(f"   {problem}")
    return ok and not problems


def reference_ms() -> float:
    """Median time of a fixed pure-Python task: the machine's speed at the moment.

    This machine's speed drifts by a third or more over a day (other tenants, clock
    frequency), and the server's throughput with it; printed beside the figures, it lets runs
    of different hours be compared. Lower is faster.
    """

    def task() -> int:
        total = 0
        for i in range(100_000):
            row = {"id": i, "value": str(i)}
            total += len(row["value"]) + i % 7
        return total

    times = []
    for _ in range(7):
        began = time.perf_counter()
        task()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def fmt_load(load: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


# --- faults ----------------------------------------------------------------------------------


def inject_faults(server: Gunicorn, postgres: Any, seconds: float, log: list[str]) -> None:
    """Kill a gunicorn worker every few seconds; restart PostgreSQL once, half-way."""
    start = time.monotonic()
    restarted = postgres is None
    next_kill = start + 2
    while time.monotonic() - start < seconds - 2:
        now = time.monotonic()
        if now >= next_kill:
            workers = server.worker_pids()
            if workers:
                victim = random.choice(workers)
                os.kill(victim, signal.SIGKILL)
                log.append(f"{now - start:5.1f} s: SIGKILL worker {victim}")
            next_kill = now + 3
        if not restarted and now - start >= seconds / 2:
            began = time.monotonic()
            postgres.restart()
            log.append(
                f"{now - start:5.1f} s: PostgreSQL restarted ({time.monotonic() - began:.1f} s down)"
            )
            restarted = True
        time.sleep(0.1)


# --- the run ---------------------------------------------------------------------------------


def run(database: str, args: argparse.Namespace) -> bool:
    scratch = Path(tempfile.mkdtemp(prefix=f"annotator-bench-load-{database}-"))
    postgres = None
    server = None
    try:
        if database == "postgresql":
            from tests.pgserver import PostgresServer

            postgres = PostgresServer.start(durable=True)
            url = postgres.create_database("annotator_load")
        else:
            url = f"sqlite:///{scratch / 'load.sqlite3'}"
        reference = reference_ms()
        began = time.monotonic()
        plan = build_project(url, scratch, args.coders)
        print(
            f"{database}: {plan['document_count']} documents, {args.coders} coders, "
            f"{plan['submitted_beforehand']} label sets coded and submitted beforehand "
            f"(set-up {time.monotonic() - began:.0f} s)"
        )
        server = Gunicorn.start(
            environment(url, scratch, args.sqlite_synchronous),
            scratch,
            args.workers,
            args.gunicorn_options.split(),
        )
        print(
            f"gunicorn: {args.workers} workers"
            + (f", {GUNICORN_CONF.relative_to(ROOT)}" if GUNICORN_CONF.exists() else "")
            + (f", {args.gunicorn_options}" if args.gunicorn_options else "")
        )
        plan |= {
            "port": server.port,
            "master": server.process.pid,
            "seconds": args.seconds,
            "think": args.think,
            "ramp_up": args.ramp_up,
            "pi_think": args.pi_think,
            "clients": args.clients,
            "throughput_seconds": args.throughput_seconds,
            "faults": args.faults,
            "seed": 1,
            "ready_file": str(scratch / "logged-in"),
        }
        plan_file, result_file = scratch / "plan.json", scratch / "result.json"
        plan_file.write_text(json.dumps(plan))
        client = subprocess.Popen(
            [sys.executable, __file__, "--client", str(plan_file), str(result_file)]
        )
        fault_log: list[str] = []
        if args.faults:
            while not (scratch / "logged-in").exists() and client.poll() is None:
                time.sleep(0.1)
            inject_faults(server, postgres, args.seconds, fault_log)
        limit = args.seconds + args.throughput_seconds + 600
        if client.wait(timeout=limit) != 0:
            raise RuntimeError("the load client failed")
        result = json.loads(result_file.read_text())
        problems = lost_writes(url, result["acknowledged"])
        for line in fault_log:
            print(f"fault at {line}")
        ok = report(database, result, problems, args)
        print(
            f"reference task (machine speed, lower is faster): {reference:.1f} ms before, "
            f"{reference_ms():.1f} ms after"
        )
        if any(result[p]["errors"] for p in ("mixed", "throughput") if p in result):
            log = server.log.read_text(errors="replace").splitlines()
            errors = [i for i, line in enumerate(log) if "Traceback" in line or "Error" in line]
            print("gunicorn's log around its first errors:")
            for line in log[max(0, errors[0] - 2) : errors[0] + 40] if errors else log[-20:]:
                print(f"   {line}")
        # The server recovered by itself: a request after the faults succeeds.
        if args.faults:
            with socket.create_connection((HOST, server.port), timeout=5) as s:
                s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answered = s.recv(12).startswith(b"HTTP/1.1 200")
            print(f"server answers after the faults, not restarted: {'yes' if answered else 'NO'}")
            ok &= answered
        return ok
    finally:
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--client":
        plan = json.loads(Path(sys.argv[2]).read_text())
        result = asyncio.run(run_client(plan))
        Path(sys.argv[3]).write_text(json.dumps(result))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--coders", type=int, default=50)
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean pause between a coder's actions (s)"
    )
    parser.add_argument(
        "--ramp-up", type=float, default=10.0, help="seconds over which the coders start"
    )
    parser.add_argument(
        "--pi-think", type=float, default=3.0, help="mean pause between dashboard loads (s)"
    )
    parser.add_argument("--clients", type=int, default=10, help="clients of the throughput part")
    parser.add_argument("--throughput-seconds", type=float, default=20)
    parser.add_argument(
        "--workers",
        type=int,
        default=runpy.run_path(str(GUNICORN_CONF))["workers"],
        help="gunicorn workers (default: as deploy/gunicorn.conf.py chooses, cores + 1)",
    )
    parser.add_argument("--faults", action="store_true", help="kill workers, restart PostgreSQL")
    parser.add_argument(
        "--gunicorn-options",
        default="",
        help="more gunicorn options, e.g. '--worker-class sync' or '--threads 2'",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["full", "normal"],
        default="full",
        help="ANNOTATOR_SQLITE_SYNCHRONOUS for the server (default full)",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = [run(database, args) for database in databases]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
