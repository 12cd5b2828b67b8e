"""A real Docker Engine for the tests: one that already answers, or a dockerd of this run's own.

Our own daemon runs in a network namespace of its own (`ip netns add`, then `nsenter --net`; not
`ip netns exec`, which remounts /sys and hides the cgroup hierarchy dockerd needs), with its own
socket, data root, exec root and pidfile. Its bridges, iptables rules and published ports live in
that namespace, so several test runs (and a swarm's nodes) on one machine never meet: the plans'
fixed subnets and host ports (443, 5432...) cannot collide. An uplink (a veth pair to the host's
namespace, a /30 of 10.253.0.0/16) stands for "the outside": what a container can reach there it
could reach on the Internet. The host masquerades the uplink to its own route out (iptables rules
tagged with the engine's key, removed with it), so builds on this engine reach Debian's mirror as
on any Docker host; that needs the host's IPv4 forwarding, which is switched on as dockerd does.

A daemon that already answers (`DOCKER_HOST`, or the default socket) is used as it is and never
stopped; then only what this run created (labelled `com.websys.test-run=<run id>`) is removed.

`python -m tests.engine.daemon run -- COMMAND...` starts an engine (when none answers), runs
COMMAND with `WEBSYS_TEST_ENGINE` describing it, and stops it afterwards, also when COMMAND fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RUN_LABEL = "com.websys.test-run"
ENV_VAR = "WEBSYS_TEST_ENGINE"
RUN_ROOT = Path("/run/websys-engine")  # sockets and exec roots: short paths (a socket path has 108 bytes)
DATA_ROOT = Path("/var/lib/websys-engine")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EngineError(Exception):
    """The engine could not be started or used."""


@dataclass(frozen=True)
class Engine:
    """Where a Docker Engine answers and how to reach what it publishes."""

    host: str  # a DOCKER_HOST value
    run_id: str
    owned: bool  # started by this run (stopped by it); otherwise only what we created is removed
    netns: str = ""  # the network namespace of its published ports; "" is the caller's own
    pid: int = 0
    uplink_host: str = ""  # the host's side of the uplink (the "outside"), when netns is set
    uplink_engine: str = ""  # the engine namespace's side of the uplink

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(
        self, *args: str, input_text: str | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env=self.env(),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise EngineError(f"docker {' '.join(args[:3])}: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def in_netns(self, argv: Sequence[str]) -> list[str]:
        """argv, run in the network namespace where the engine publishes ports."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv] if self.netns else list(argv)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Engine:
        return cls(**json.loads(text))


def _answers(host: str, timeout: float = 10) -> bool:
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def existing_engine(run_id: str) -> Engine | None:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return Engine(host=host, run_id=run_id, owned=False) if _answers(host) else None


def _ip(*args: str, netns: str = "") -> None:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise EngineError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _uplink_octets(run_id: str) -> tuple[int, int]:
    """A /30 of 10.253.0.0/16 for this run that no interface of the host uses yet."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=False).stdout
    seed = int(hashlib.sha256(run_id.encode()).hexdigest(), 16)
    for attempt in range(16384):
        slot = (seed + attempt) % 16384
        third, fourth = slot // 64, (slot % 64) * 4
        if f"10.253.{third}.{fourth + 1}/" not in used:
            return third, fourth
    raise EngineError("no free /30 in 10.253.0.0/16 for the engine's uplink")


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "10", *args], capture_output=True, text=True, timeout=30, check=False)


def _nat_rules(key: str, host_if: str, inside: str) -> list[tuple[str, str, list[str]]]:
    """The host's rules that let the engine's uplink out, as it lets a Docker bridge out: forward
    what comes from it and the replies to it, and masquerade it (the host's FORWARD policy may be
    DROP, which a Docker daemon in the host's namespace sets)."""
    tag = ["-m", "comment", "--comment", f"websys-engine:{key}"]
    return [
        ("filter", "FORWARD", ["-i", host_if, "-j", "ACCEPT", *tag]),
        (
            "filter",
            "FORWARD",
            ["-o", host_if, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT", *tag],
        ),
        ("nat", "POSTROUTING", ["-s", f"{inside}/32", "!", "-o", host_if, "-j", "MASQUERADE", *tag]),
    ]


def _open_uplink(key: str, host_if: str, inside: str) -> None:
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")
    if forwarding.read_text().strip() != "1":
        forwarding.write_text("1\n")
    for table, chain, rule in _nat_rules(key, host_if, inside):
        result = _iptables("-t", table, "-I", chain, "1", *rule)
        if result.returncode != 0:
            raise EngineError(f"iptables {table} {chain} for the engine's uplink: {result.stderr.strip()}")


def _close_uplink(key: str) -> None:
    """Removes every host rule tagged with this engine's key (also those of an engine that died)."""
    for table in ("filter", "nat"):
        listing = _iptables("-t", table, "-S").stdout.splitlines()
        for line in listing:
            if f"websys-engine:{key}" in line and line.startswith("-A "):
                _iptables("-t", table, "-D", *shlex.split(line)[1:])


def start_engine(run_id: str, name: str = "engine") -> Engine:
    """dockerd in a new network namespace `websys-<run>-<name>`, answering within START_TIMEOUT."""
    key = hashlib.sha256(f"{run_id}:{name}".encode()).hexdigest()[:10]
    netns = f"wse-{key}"
    run_dir = RUN_ROOT / key
    data_dir = DATA_ROOT / key
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "owner").write_text(f"{run_id} {name} {os.getpid()}\n", encoding="utf-8")
    _ip("netns", "add", netns)
    try:
        _ip("link", "set", "lo", "up", netns=netns)
        third, fourth = _uplink_octets(run_id + name)
        outside, inside = f"10.253.{third}.{fourth + 1}", f"10.253.{third}.{fourth + 2}"
        host_if, engine_if = f"wh{key[:8]}", f"we{key[:8]}"
        _ip("link", "add", host_if, "type", "veth", "peer", "name", engine_if)
        _ip("link", "set", engine_if, "netns", netns)
        _ip("addr", "add", f"{outside}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("addr", "add", f"{inside}/30", "dev", engine_if, netns=netns)
        _ip("link", "set", engine_if, "up", netns=netns)
        _ip("route", "add", "default", "via", outside, netns=netns)
        _open_uplink(key, host_if, inside)
        socket_path = run_dir / "docker.sock"
        log = (run_dir / "dockerd.log").open("w", encoding="utf-8")
        process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{netns}",
                "--",
                "dockerd",
                f"--host=unix://{socket_path}",
                f"--data-root={data_dir / 'data'}",
                f"--exec-root={run_dir / 'exec'}",
                f"--pidfile={run_dir / 'docker.pid'}",
                f"--label={RUN_LABEL}={run_id}",
                "--log-level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        engine = Engine(
            host=f"unix://{socket_path}",
            run_id=run_id,
            owned=True,
            netns=netns,
            pid=process.pid,
            uplink_host=outside,
            uplink_engine=inside,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(engine.host, timeout=5):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (run_dir / "dockerd.log").read_text(encoding="utf-8")[-600:]
                stop_engine(engine)
                raise EngineError(f"dockerd ({netns}) did not answer within {START_TIMEOUT:.0f}s: {tail}")
            time.sleep(0.3)
        return engine
    except BaseException:
        _close_uplink(key)
        with contextlib.suppress(EngineError):
            _ip("netns", "delete", netns)
        raise


def remove_created(engine: Engine) -> None:
    """Remove the containers, services, secrets, configs, networks and volumes of this run."""
    label = f"label={RUN_LABEL}={engine.run_id}"
    for kind, listing in (
        ("service", ["service", "ls", "-q", "--filter", label]),
        ("container", ["ps", "-aq", "--filter", label]),
        ("secret", ["secret", "ls", "-q", "--filter", label]),
        ("config", ["config", "ls", "-q", "--filter", label]),
        ("network", ["network", "ls", "-q", "--filter", label]),
        ("volume", ["volume", "ls", "-q", "--filter", label]),
    ):
        found = engine.docker(*listing, check=False).stdout.split()
        if found:
            engine.docker(kind, "rm", *(["-f"] if kind in ("container", "volume") else []), *found, check=False)


def stop_engine(engine: Engine) -> None:
    """Remove what this run made; an engine of our own is stopped and its directories removed."""
    if not engine.owned:
        remove_created(engine)
        return
    key = Path(engine.host.removeprefix("unix://")).parent.name
    if engine.pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(engine.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and _alive(engine.pid):
            time.sleep(0.2)
        if _alive(engine.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(engine.pid, signal.SIGKILL)
    # containerd-shim processes of killed containers stay in the daemon's session group.
    exec_root = RUN_ROOT / key / "exec"
    subprocess.run(["umount", "-R", "-l", str(DATA_ROOT / key / "data")], capture_output=True, check=False)
    subprocess.run(["umount", "-R", "-l", str(exec_root)], capture_output=True, check=False)
    _close_uplink(key)
    with contextlib.suppress(EngineError):
        _ip("netns", "delete", engine.netns)
    shutil.rmtree(RUN_ROOT / key, ignore_errors=True)
    shutil.rmtree(DATA_ROOT / key, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            return True
        return False
    return waited == 0


def acquire(run_id: str | None = None) -> Engine:
    """The engine described by WEBSYS_TEST_ENGINE, else one that answers, else a new one of ours."""
    described = os.environ.get(ENV_VAR)
    if described:
        return Engine.from_json(described)
    run_id = run_id or uuid.uuid4().hex[:12]
    return existing_engine(run_id) or start_engine(run_id)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print("usage: python -m tests.engine.daemon run -- COMMAND...", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:12]
    started = time.monotonic()
    try:
        engine = existing_engine(run_id) or start_engine(run_id)
    except EngineError as error:
        print(f"docker engine: {error}", file=sys.stderr)
        return 1
    where = f"own dockerd in network namespace {engine.netns}" if engine.owned else f"the daemon at {engine.host}"
    print(f"docker engine: {where} (run {run_id}, ready in {time.monotonic() - started:.1f}s)", file=sys.stderr)
    try:
        # SIGTERM/SIGINT reach the command's process group; we still clean up after it ends.
        return subprocess.run(list(argv[2:]), env={**os.environ, ENV_VAR: engine.to_json()}, check=False).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        stop_engine(engine)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
