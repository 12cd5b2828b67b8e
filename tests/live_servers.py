"""Real servers for the backup tests: PostgreSQL 15 (Debian's) and moto's S3 server, on loopback.

Each runs in its own temporary directory on a free port, bounded by timeouts, and is stopped and
removed by its owner (a fixture), even when a test fails. As root, PostgreSQL runs as `postgres`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "s3cret-Pässword"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not start within {timeout}s")


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="websys-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.as_postgres:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run(
            "initdb", "-D", str(self.root / "data"), "-U", "postgres", "-E", "UTF8", "--locale=C.utf8",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_wal_size=1GB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def _run(self, binary: str, *args: str) -> None:
        command = [str(PG_BINDIR / binary), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.root)

    def url(self, database: str) -> str:
        return f"postgresql://postgres:{PASSWORD.replace('ä', '%C3%A4')}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=PASSWORD, dbname=database, autocommit=True
        )

    def databases(self) -> set[str]:
        with self.connect() as connection:
            return {row[0] for row in connection.execute("SELECT datname FROM pg_database").fetchall()}

    def create_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class MotoServer:
    """moto's standalone S3-compatible server: the same HTTP API an operator's tools talk to."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 closed in stop()
        binary = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"
        _wait_for(lambda: urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).status == 200, "moto_server", 30)  # noqa: S310 loopback

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_moto() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()
