"""A real redis-server with the rendered redis.conf (and the included password file), on loopback:
the password is required, and what was written survives a restart through the append-only file."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.datatier import new_password, stop_process, wait_until
from tests.live_servers import free_port
from tests.planning import stack_settings
from websys.render import redis as files
from websys.settings import ENVIRONMENTS, Settings

pytestmark = [pytest.mark.timeout(120), pytest.mark.live]


def redis_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (install redis-server)")
    return found


@dataclass
class RedisServer:
    settings: Settings
    root: Path
    config: Path
    port: int
    password: str
    process: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    def start(self) -> None:
        # Only where it listens is made local; everything else comes from the rendered file.
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [redis_binary("redis-server"), str(self.config), "--port", str(self.port), "--bind", "127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        ready = wait_until(lambda: self.process is None or self.process.poll() is not None or self.ping_ok(), 20, 0.05)
        if not ready or self.process.poll() is not None:
            raise RuntimeError(f"redis-server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop_process(self.process, sig)

    def cli(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin"}
        if password is not None:
            env["REDISCLI_AUTH"] = password
        return subprocess.run(
            [redis_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    def ping_ok(self) -> bool:
        # An unauthenticated PING answers NOAUTH once the server is up.
        result = self.cli("PING")
        return result.returncode == 0 and ("NOAUTH" in result.stdout or "PONG" in result.stdout)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    settings = stack_settings("production")
    root = Path(tempfile.mkdtemp(prefix="websys-datatier-redis-"))
    server: RedisServer | None = None
    try:
        password = new_password()
        (root / "data").mkdir()
        auth = root / "redis-auth.conf"
        auth.write_text(files.render_redis_auth(password))
        auth.chmod(0o400)
        (root / "redis-password").write_text(password)
        config = root / "redis.conf"
        config.write_text(files.render_redis_conf(settings, auth_file=str(auth), data_dir=str(root / "data")))
        server = RedisServer(settings, root, config, free_port(), password)
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_command_without_the_password_is_refused(redis_server: RedisServer) -> None:
    anonymous = redis_server.cli("SET", "key", "value")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    wrong = redis_server.cli("SET", "key", "value", password="not-the-password")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr
    right = redis_server.cli("SET", "key", "value", password=redis_server.password)
    assert right.stdout.strip() == "OK", right.stdout + right.stderr


def test_keys_survive_a_restart_through_the_append_only_file(redis_server: RedisServer) -> None:
    password = redis_server.password
    for index in range(100):
        assert redis_server.cli("SET", f"user:{index}", f"value-{index}", password=password).stdout.strip() == "OK"
    assert redis_server.cli("SETEX", "session:1", "3600", "cached", password=password).stdout.strip() == "OK"
    # Killed without a chance to save: with appendfsync everysec at most the last second is at
    # risk, so wait past it; there are no RDB snapshots (save ""), so only the AOF can bring keys back.
    time.sleep(1.5)
    redis_server.stop(signal.SIGKILL)
    data = redis_server.root / "data"
    assert (data / "appendonlydir").is_dir()
    assert not (data / "dump.rdb").exists()
    redis_server.start()
    assert redis_server.cli("DBSIZE", password=password).stdout.strip() == "101"
    assert redis_server.cli("GET", "user:42", password=password).stdout.strip() == "value-42"
    ttl = int(redis_server.cli("TTL", "session:1", password=password).stdout.strip())
    assert 3500 < ttl <= 3600
    # And after a clean shutdown too.
    redis_server.stop(signal.SIGTERM)
    redis_server.start()
    assert redis_server.cli("GET", "user:99", password=password).stdout.strip() == "value-99"


def test_rendered_memory_and_persistence_settings_are_in_force(redis_server: RedisServer) -> None:
    settings = redis_server.settings.redis

    def config_get(name: str) -> str:
        lines = redis_server.cli("CONFIG", "GET", name, password=redis_server.password).stdout.splitlines()
        return lines[1] if len(lines) > 1 else ""

    assert config_get("maxmemory") == str(settings.maxmemory_mb * 1024 * 1024)
    assert config_get("maxmemory-policy") == settings.maxmemory_policy
    assert config_get("appendonly") == "yes"
    assert config_get("appendfsync") == "everysec"
    assert config_get("protected-mode") == "yes"
    assert config_get("save") == ""


def test_healthcheck_command_needs_the_right_password(redis_server: RedisServer) -> None:
    def healthcheck(password_file: Path) -> int:
        command = files.redis_healthcheck_command(str(password_file), redis_server.port)
        assert command[0] == "CMD-SHELL"
        return subprocess.run(["sh", "-c", command[1]], capture_output=True, timeout=10, check=False).returncode

    assert healthcheck(redis_server.root / "redis-password") == 0
    wrong = redis_server.root / "wrong-password"
    wrong.write_text("not-the-password")
    assert healthcheck(wrong) != 0


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stacks_redis_conf_starts_a_server(stack: str, tmp_path: Path) -> None:
    settings = stack_settings(stack)
    auth = tmp_path / "auth.conf"
    auth.write_text(files.render_redis_auth('pa"ss\\word'))  # quoting survives the parser
    (tmp_path / "data").mkdir()
    config = tmp_path / "redis.conf"
    config.write_text(files.render_redis_conf(settings, auth_file=str(auth), data_dir=str(tmp_path / "data")))
    server = RedisServer(settings, tmp_path, config, free_port(), 'pa"ss\\word')
    server.start()
    try:
        assert server.cli("PING", password='pa"ss\\word').stdout.strip() == "PONG"
        lines = server.cli("CONFIG", "GET", "maxmemory", password='pa"ss\\word').stdout.splitlines()
        assert lines[1] == str(settings.redis.maxmemory_mb * 1024 * 1024)
    finally:
        server.stop()
