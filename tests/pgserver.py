"""A throw-away PostgreSQL server for the tests, on 127.0.0.1, as an unprivileged user.

PostgreSQL refuses to run as root, so when the tests run as root (as in CI) the server
runs as the ``postgres`` system user (or ``nobody``), in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_binary(name: str) -> str | None:
    """``initdb``/``pg_ctl`` on the PATH or in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The user to run the server as, or None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError(
        "running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as"
    )


@dataclass
class PostgresServer:
    """A running server; ``url(database)`` gives a SQLAlchemy URL."""

    root: Path
    port: int
    user: str | None
    pg_ctl: str

    @classmethod
    def start(cls, durable: bool = False) -> PostgresServer:
        """initdb a new cluster in a temporary folder and start it.

        Tests run it without syncing to disk (``fsync=off``); ``durable`` keeps
        PostgreSQL's default, a sync at every commit, as a server in use has it (the load
        benchmark).
        """
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError(
                "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
            )
        user = _server_user()
        root = Path(tempfile.mkdtemp(prefix="annotator-pg-"))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        port = _free_port()
        server = cls(root=root, port=port, user=user, pg_ctl=pg_ctl)
        server._run(
            [
                initdb,
                "-D",
                str(root / "data"),
                "-U",
                "annotator",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=100"
        if not durable:
            options += " -F -c fsync=off"
        server._run(
            [
                pg_ctl,
                "-D",
                str(root / "data"),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        )
        server._wait()
        return server

    def _run(self, command: list[str]) -> None:
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            extra = log.read_text() if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{extra}"
            )

    def _wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start on port {self.port}")

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for a database on this server."""
        return f"postgresql+psycopg://annotator@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=annotator dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Stop the server (fast: active transactions are rolled back) and start it again.

        With its log file again: otherwise the new server would keep pg_ctl's output pipes
        open, and waiting for pg_ctl would never end.
        """
        self._run(
            [
                self.pg_ctl,
                "-D",
                str(self.root / "data"),
                "-l",
                str(self.root / "server.log"),
                "-m",
                "fast",
                "-w",
                "restart",
            ]
        )
        self._wait()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        try:
            self._run([self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
