"""Helpers for the data-tier tests: settings of a stack with overrides, and the real PostgreSQL 15
and Redis programs started on loopback (random free ports, temporary directories)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.live_servers import PG_BINDIR, free_port

IS_ROOT = os.geteuid() == 0


def pg_binary(name: str) -> str:
    candidate = PG_BINDIR / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} of PostgreSQL 15 not found (install postgresql-15)")
    return found


def new_password() -> str:
    return secrets.token_urlsafe(24)


def as_postgres() -> dict[str, Any]:
    """Popen arguments that drop to the `postgres` user when the tests run as root (PostgreSQL
    refuses to run as root)."""
    if not IS_ROOT:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def give_to_postgres(path: Path) -> None:
    if IS_ROOT:
        shutil.chown(path, "postgres", "postgres")


def pg_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PATH"] = f"{PG_BINDIR}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def run_as_postgres(
    command: Sequence[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=env, capture_output=True, text=True, timeout=timeout, check=False, **as_postgres()
    )


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGINT, timeout: float = 15) -> None:
    """Stop a server we started (SIGINT is PostgreSQL's fast shutdown), then kill if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@dataclass
class PgServer:
    name: str
    port: int
    socket_dir: Path
    data_dir: Path
    process: subprocess.Popen[str]
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def psql(
        self,
        sql: str,
        *,
        user: str,
        password: str | None = None,
        dbname: str = "postgres",
        replication: bool = False,
        timeout: float = 20,
    ) -> subprocess.CompletedProcess[str]:
        """psql over TCP on loopback, as a client on the data network would connect."""
        conninfo = f"host=127.0.0.1 port={self.port} user={user} dbname={dbname} connect_timeout=5"
        if replication:
            conninfo += " replication=true"
        env = pg_env(PGPASSFILE=os.devnull)
        if password is not None:
            env["PGPASSWORD"] = password
        return subprocess.run(
            [pg_binary("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", conninfo, "-c", sql],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def admin(self, sql: str, dbname: str = "postgres") -> str:
        """psql as the superuser over the local socket (peer authentication), as an operator would."""
        result = run_as_postgres(
            [
                pg_binary("psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            env=pg_env(),
        )
        assert result.returncode == 0, f"{self.name}: {result.stderr}\n{self.log_text()}"
        return result.stdout.strip()

    def is_ready(self) -> bool:
        result = subprocess.run(
            [pg_binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        if not wait_until(lambda: self.process.poll() is not None or self.is_ready(), timeout, 0.1):
            raise TimeoutError(f"{self.name} not ready in {timeout}s:\n{self.log_text()}")
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")

    def stop(self) -> None:
        stop_process(self.process)


def local_overrides(port: int, socket_dir: Path, hba_file: Path) -> list[str]:
    """The only settings a test changes in the rendered files: where to listen, and the path of
    pg_hba.conf (in a container it is /etc/postgresql/pg_hba.conf)."""
    return [
        "-c",
        f"port={port}",
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={socket_dir}",
        "-c",
        f"hba_file={hba_file}",
    ]


def start_logged(name: str, command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    handle = log.open("w")
    try:
        return subprocess.Popen(
            list(command),
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **as_postgres(),
        )
    finally:
        handle.close()


def init_and_start(
    name: str, pgdata: Path, conf: Path, hba: Path, sockets: Path, log: Path, initdb_options: Sequence[str]
) -> PgServer:
    """What the official entrypoint does on an empty volume (initdb with POSTGRES_INITDB_ARGS), then
    a server with the rendered postgresql.conf and pg_hba.conf on a free loopback port."""
    initdb = run_as_postgres(
        # --no-sync: the test's speed only; the entrypoint syncs
        [pg_binary("initdb"), "-D", str(pgdata), "-U", "postgres", "--no-sync", *initdb_options],
        pg_env(),
        timeout=120,
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed: {initdb.stderr}")
    port = free_port()
    command = [pg_binary("postgres"), "-D", str(pgdata), "-c", f"config_file={conf}"]
    process = start_logged(name, [*command, *local_overrides(port, sockets, hba)], pg_env(), log)
    server = PgServer(name, port, sockets, pgdata, process, log)
    try:
        server.wait_ready(60)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def cleanup(processes: list[subprocess.Popen[str]]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in reversed(processes):
            stop_process(process)
