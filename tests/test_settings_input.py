"""Bad stack files and bad `--set`/`--secret` values, as an attacker or a careless colleague writes
them: each is refused with one line (naming the file or option, the key and the reason), exit 2,
quickly, and never with a secret in the message.

The stack files here are the tests' own (a minimal valid one, then one change per case)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.planning import run_websys, stack_file
from websys.cli.common import load_stack_config
from websys.plan import record_plan
from websys.settings import Settings, SettingsError, parse_settings
from websys.settings.yamlread import MAX_DEPTH, MAX_FILE_BYTES
from websys.stackfile import apply_override, read_stack_file

SECRET = "s3cr3t-Hunter2-value"  # a value passed as secret: must appear in no output
# Shapes only (the settings check the PEM armour; nothing here is parsed as a key).
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"

# A minimal development stack of the tests' own; each case changes one thing.
BASE: dict[str, object] = {
    "websys:docker": {"host": "unix:///var/run/docker.sock"},
    "websys:domains": {"frontend": "localhost", "api": "localhost"},
    "websys:database": {"name": "websys_test"},
    "websys:frontend": {"port": 3000, "blue": {"image": "example.org/websys/frontend:1.0.0", "replicas": 1}},
    "websys:backend": {"port": 8000, "blue": {"image": "example.org/websys/backend:1.0.0", "replicas": 1}},
    "websys:dataNetwork": {"subnet": "172.16.9.0/24"},
}


def base_text(**changes: object) -> str:
    config = {**BASE, **changes}
    return yaml.safe_dump({"config": config}, sort_keys=False)


def ciphertext(nonce: bytes = b"n" * 12, sealed: bytes = b"c" * 24) -> str:
    """The form `pulumi config set --secret` writes with the passphrase provider."""
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


@dataclass
class Case:
    kind: str  # the class of mistake or attack
    name: str
    text: str | None = None  # the stack file (None: the minimal one)
    path: str | None = None  # read this path instead of a file of `text`
    sets: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    stack: str = "development"
    expect: str = ""  # a fragment of the one line
    # the line starts with this (default: the stack file's name)
    source: str | None = None


def _nested(depth: int) -> str:
    return "config:\n  websys:backend: " + "[" * depth + "]" * depth + "\n"


ALIAS_BOMB = 'config:\n  websys:x:\n    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"    {chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
    for i in range(9)
)

CASES: list[Case] = [
    # --- a key written twice: the second would silently win ---
    Case(
        "duplicate keys",
        "top level",
        base_text() + "  websys:database:\n    name: other\n",
        expect="duplicate key 'websys:database'",
    ),
    Case(
        "duplicate keys",
        "nested",
        base_text().replace("    name: websys_test\n", "    name: websys_test\n    name: evil\n"),
        expect="duplicate key 'name'",
    ),
    Case(
        "duplicate keys",
        "flow mapping",
        base_text() + "  websys:proxy: {statusPort: 8081, statusPort: 9000}\n",
        expect="duplicate key 'statusPort'",
    ),
    Case("duplicate keys", "config twice", base_text() + "config: {}\n", expect="duplicate key 'config'"),
    Case("duplicate keys", "same int key twice", base_text() + "  websys:x: {1: a, 1: b}\n", expect="duplicate key 1"),
    # --- secure: values that are not what Pulumi writes ---
    Case("secure values", "empty", base_text(**{"websys:jwtSecret": {"secure": ""}}), expect="not a Pulumi ciphertext"),
    Case(
        "secure values",
        "number",
        base_text(**{"websys:jwtSecret": {"secure": 12345}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values", "null", base_text(**{"websys:jwtSecret": {"secure": None}}), expect="not a Pulumi ciphertext"
    ),
    Case(
        "secure values",
        "plain text",
        base_text(**{"websys:jwtSecret": {"secure": SECRET}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "mapping",
        base_text(**{"websys:jwtSecret": {"secure": {"v1": "x"}}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "bad base64",
        base_text(**{"websys:jwtSecret": {"secure": "v1:!!!!:????"}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "short nonce",
        base_text(**{"websys:jwtSecret": {"secure": ciphertext(nonce=b"n" * 4)}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "no tag",
        base_text(**{"websys:jwtSecret": {"secure": ciphertext(sealed=b"c" * 8)}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "unknown version",
        base_text(**{"websys:jwtSecret": {"secure": ciphertext().replace("v1:", "v2:")}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "trailing newline",
        base_text(**{"websys:jwtSecret": {"secure": ciphertext() + "\n"}}),
        expect="not a Pulumi ciphertext",
    ),
    Case(
        "secure values",
        "extra key",
        base_text(**{"websys:jwtSecret": {"secure": ciphertext(), "x": 1}}),
        expect="the one key 'secure'",
    ),
    Case(
        "secure values",
        "nested plain",
        base_text(**{"websys:domains": {"frontend": "localhost", "api": {"secure": SECRET}}}),
        expect="not a Pulumi ciphertext",
    ),
    # --- a trailing newline passes `...$` ---
    Case(
        "trailing newline",
        "server name",
        base_text(**{"websys:domains": {"frontend": "websys.example.com\n", "api": "localhost"}}),
        expect="websys:domains.frontend",
    ),
    Case(
        "trailing newline",
        "image",
        sets=['frontend.blue.image="example.org/websys/frontend:1.0.0\\n"'],
        expect="websys:frontend.blue.image",
    ),
    Case("trailing newline", "database name", sets=['database.name="websys\\n"'], expect="websys:database.name"),
    Case(
        "trailing newline",
        "docker host",
        sets=['docker.host="unix:///var/run/docker.sock\\n"'],
        expect="websys:docker.host",
    ),
    Case("trailing newline", "log size", sets=['logging.maxSize="10m\\n"'], expect="websys:logging.maxSize"),
    Case("trailing newline", "bucket", sets=['backup.bucket="websys-backups\\n"'], expect="websys:backup.bucket"),
    Case(
        "trailing newline",
        "grafana path",
        sets=['monitoring.grafanaPath="/grafana/\\n"'],
        expect="websys:monitoring.grafanaPath",
    ),
    Case(
        "trailing newline",
        "slack channel",
        sets=['monitoring.receivers.slack.channel="#ops\\n"'],
        expect="websys:monitoring.receivers.slack.channel",
    ),
    Case("trailing newline", "spread label", sets=['swarm.spreadLabel="zone\\n"'], expect="websys:swarm.spreadLabel"),
    Case(
        "trailing newline",
        "healthcheck path",
        sets=['backend.healthcheck.path="/health\\n"'],
        expect="websys:backend.healthcheck.path",
    ),
    # --- the environment is the stack's name ---
    Case(
        "environment",
        "production declared development",
        base_text(**{"websys:environment": "development"}),
        stack="production",
        expect="websys:environment: is the stack's name (production)",
    ),
    Case(
        "environment",
        "set on the command line",
        sets=["environment=production"],
        expect="websys:environment: is the stack's name",
    ),
    Case(
        "environment",
        "nodeEnv",
        sets=["nodeEnv=development"],
        stack="staging",
        expect="websys:nodeEnv: is the stack's name (staging)",
    ),
    Case("environment", "unknown stack", stack="prod", expect="not one of development, staging, production"),
    # --- values rendered into another language ---
    Case(
        "injection: nginx",
        "variable in the CSP",
        sets=["proxy.contentSecurityPolicy=default-src $http_x_evil"],
        expect="must not contain $",
    ),
    Case(
        "injection: nginx",
        "quote in the CSP",
        sets=["proxy.contentSecurityPolicy='a\" always; add_header X-Evil \"1'"],
        expect='must not contain "',
    ),
    Case("injection: nginx", "backslash", sets=["proxy.permissionsPolicy='camera=()\\'"], expect="must not contain \\"),
    Case(
        "injection: nginx",
        "newline in a header",
        sets=['proxy.permissionsPolicy="camera=()\\nX-Evil: 1"'],
        expect="single line",
    ),
    Case(
        "injection: nginx",
        "server_name with a directive",
        sets=["domains.api='localhost; return 200 x'"],
        expect="websys:domains.api",
    ),
    Case(
        "injection: nginx",
        "grafana path with a brace",
        sets=["monitoring.grafanaPath='/grafana/ { }/'"],
        expect="websys:monitoring.grafanaPath",
    ),
    Case(
        "injection: JavaScript",
        "quote in the healthcheck path",
        sets=["backend.healthcheck.path=/health');require('child_process').execSync('id');('"],
        expect="websys:backend.healthcheck.path",
    ),
    Case(
        "injection: JavaScript",
        "backslash in the path",
        sets=["frontend.healthcheck.path=/a\\\\b"],
        expect="websys:frontend.healthcheck.path",
    ),
    Case(
        "injection: JavaScript",
        "template literal",
        sets=["backend.healthcheck.path=/${process.exit(0)}"],
        expect="websys:backend.healthcheck.path",
    ),
    Case(
        "injection: shell",
        "docker host with a command",
        sets=["docker.host='ssh://u@h;touch /tmp/x'"],
        expect="websys:docker.host",
    ),
    Case(
        "injection: shell",
        "docker host with $()",
        sets=["docker.host=unix:///run/$(id).sock"],
        expect="websys:docker.host",
    ),
    Case(
        "injection: shell",
        "backtick in the path",
        sets=["backend.healthcheck.path=/`id`"],
        expect="websys:backend.healthcheck.path",
    ),
    Case("injection: SQL", "database name keyword", sets=["database.name=select"], expect="reserved SQL key word"),
    Case("injection: SQL", "pg_hba keyword", sets=["database.name=replication"], expect="keyword of pg_hba.conf"),
    Case("injection: SQL", "role 'all'", sets=["database.user=all"], expect="websys:database.user"),
    Case("injection: SQL", "role public", sets=["postgres.replicationUser=public"], expect="reserved by PostgreSQL"),
    Case("injection: SQL", "quote", sets=["database.name=a'b"], expect="websys:database.name"),
    Case("injection: SQL", "pg_ prefix", sets=["database.user=pg_monitor"], expect="reserved by PostgreSQL"),
    Case(
        "injection: Alertmanager template",
        "email to",
        sets=["monitoring.receivers.email={to: '{{ .x }}@a.io', sender: a@b.io, smarthost: 'smtp.b.io:587'}"],
        expect="websys:monitoring.receivers.email.to",
    ),
    Case(
        "injection: Alertmanager template",
        "auth username",
        sets=[
            "monitoring.receivers.email="
            "{to: a@b.io, sender: a@b.io, smarthost: 'smtp.b.io:587', authUsername: '{{ .x }}'}"
        ],
        expect="Alertmanager would expand",
    ),
    Case(
        "injection: YAML",
        "webhook URL with a newline",
        sets=['monitoring.receivers.webhook.url="http://h/\\nsend_resolved: false"'],
        expect="websys:monitoring.receivers.webhook.url",
    ),
    Case(
        "injection: shell",
        "ssh ProxyCommand",
        sets=["docker.sshOpts=['-oProxyCommand=sh -c id']"],
        expect="runs a local command",
    ),
    Case(
        "injection: shell",
        "ssh -o LocalCommand",
        sets=["docker.sshOpts=['-o', 'PermitLocalCommand=yes']"],
        expect="websys:docker.sshOpts.1",
    ),
    Case("injection: shell", "ssh -F config", sets=["docker.sshOpts=['-F/tmp/evil']"], expect="-F"),
    # --- ports ---
    Case("ports", "status port 80", sets=["proxy.statusPort=80"], expect="serves the public on"),
    Case("ports", "status port 443", sets=["proxy.statusPort=443"], expect="serves the public on"),
    Case("ports", "status port 0", sets=["proxy.statusPort=0"], expect="websys:proxy.statusPort"),
    # --- subnets ---
    Case(
        "subnets",
        "inside 172.17/16 (docker0)",
        sets=["dataNetwork.subnet=172.17.5.0/24"],
        expect="overlaps Docker's default address pool 172.17.0.0/16",
    ),
    Case(
        "subnets",
        "inside 172.30/16",
        sets=["dataNetwork.subnet=172.30.0.0/24"],
        expect="overlaps Docker's default address pool",
    ),
    Case(
        "subnets",
        "inside 192.168/16",
        sets=["dataNetwork.subnet=192.168.100.0/24"],
        expect="overlaps Docker's default address pool 192.168.0.0/16",
    ),
    Case(
        "subnets", "covering the pools", sets=["dataNetwork.subnet=172.16.0.0/12"], expect="websys:dataNetwork.subnet"
    ),
    Case(
        "subnets",
        "swarm overlay pool",
        sets=[
            "platform=swarm",
            "monitoring.receivers.webhook.url=http://hooks.example.com/x",
            "dataNetwork.subnet=10.0.3.0/24",
        ],
        secrets=[f"tlsCertificate={PEM_CERTIFICATE}", f"tlsPrivateKey={PEM_KEY}"],
        stack="production",
        expect="--set dataNetwork.subnet=10.0.3.0/24: websys:dataNetwork.subnet: overlaps Docker Swarm's default",
    ),
    Case("subnets", "public", sets=["dataNetwork.subnet=8.8.8.0/24"], expect="private"),
    # --- input bounds and encodings ---
    Case("bounds", "not UTF-8", text="config:\n  websys:x: caf\xe9\n", expect="not UTF-8"),
    Case(
        "bounds",
        "binary",
        text="\x00\x01\x02ELF",
        expect="Pulumi.development.yaml:1: not valid YAML: the character #x0000 is not allowed",
    ),
    Case(
        "bounds",
        f"{MAX_DEPTH * 300} levels of nesting",
        text=_nested(MAX_DEPTH * 300),
        expect=f"nested more than {MAX_DEPTH} levels",
    ),
    Case("bounds", "alias bomb", text=ALIAS_BOMB, expect="anchors (&a) are not allowed"),
    Case("bounds", "anchor", text=base_text() + "  websys:x: &a 1\n", expect="anchors"),
    Case("bounds", "merge key", text=base_text() + "  websys:y: {<<: *a}\n", expect="aliases"),
    Case("bounds", "/dev/zero", path="/dev/zero", expect="not a regular file"),
    Case("bounds", "a directory", path="/", expect="/: not a regular file"),
    Case("bounds", "larger than the cap", text="config:\n" + "#" * (MAX_FILE_BYTES + 10) + "\n", expect="larger than"),
    Case(
        "bounds", "a YAML tag", text=base_text() + "  websys:x: !!binary aGVsbG8=\n", expect="not a configuration value"
    ),
    Case(
        "bounds",
        "a python tag",
        text=base_text() + "  websys:x: !!python/object:os.system {}\n",
        expect="not a configuration value",
    ),
    Case(
        "bounds",
        "--set alias bomb",
        sets=["backend=" + ALIAS_BOMB.split("websys:x:\n", 1)[1].replace("\n    ", "\n")],
        expect="--set backend=...: anchors",
    ),
    Case("bounds", "--set deep nesting", sets=["backend=" + "[" * 5000 + "]" * 5000], expect="nested more than"),
    Case("bounds", "--set huge value", sets=["backend.blue.image=" + "a" * 100_000], expect="larger than"),
    Case("bounds", "--set duplicate key", sets=["backend={port: 1, port: 2}"], expect="duplicate key 'port'"),
    # --- secrets never echoed ---
    Case(
        "secrets echoed",
        "--secret to a number key",
        secrets=[f"backend.blue.replicas={SECRET}"],
        expect="--secret backend.blue.replicas: websys:backend.blue.replicas",
    ),
    Case(
        "secrets echoed",
        "--secret to a domain",
        secrets=[f"domains.api={SECRET}"],
        expect="--secret domains.api: websys:domains.api",
    ),
    Case(
        "secrets echoed",
        "--secret to an image",
        secrets=[f"frontend.blue.image={SECRET}"],
        expect="websys:frontend.blue.image",
    ),
    Case(
        "secrets echoed",
        "--secret to a subnet",
        secrets=[f"dataNetwork.subnet={SECRET}"],
        expect="websys:dataNetwork.subnet",
    ),
    Case("secrets echoed", "--secret with no key", secrets=[SECRET], expect="--secret: expected KEY=VALUE"),
    Case(
        "secrets echoed",
        "--set of a secret key",
        sets=[f"databasePassword={SECRET}"],
        expect="pass it with --secret databasePassword=..., never --set",
    ),
    Case(
        "secrets echoed",
        "--secret to a reserved user",
        secrets=["database.user=postgres"],
        expect="websys:database.user",
    ),
    Case(
        "secrets echoed",
        "plaintext secret in the file",
        base_text(**{"websys:jwtSecret": SECRET}),
        expect="must not be stored in plaintext",
    ),
    Case("secrets echoed", "--secret to a mapping", secrets=[f"backend={SECRET}"], expect="websys:backend"),
]


def _write_case(case: Case, tmp_path: Path) -> Path:
    if case.path is not None:
        return Path(case.path)
    path = tmp_path / f"Pulumi.{case.stack}.yaml"
    text = case.text if case.text is not None else base_text()
    path.write_bytes(text.encode("latin-1") if case.kind == "bounds" and "not UTF-8" in case.name else text.encode())
    return path


def refuse(case: Case, tmp_path: Path) -> tuple[int, str, float]:
    """Load the case as `websys plan` does; the exit code, stderr and seconds taken."""
    stack_file = _write_case(case, tmp_path)
    stderr = io.StringIO()
    started = time.monotonic()
    code = 0
    with contextlib.redirect_stderr(stderr):
        try:
            load_stack_config(case.stack, case.sets, case.secrets, stack_file)
        except SystemExit as exited:
            code = int(exited.code or 0)
    return code, stderr.getvalue(), time.monotonic() - started


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_bad_input_is_refused_with_one_line(case: Case, tmp_path: Path) -> None:
    code, stderr, seconds = refuse(case, tmp_path)
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert case.expect in lines[0], lines[0]
    assert "internal error" not in stderr
    assert "Traceback" not in stderr
    assert SECRET not in stderr, "a secret value was echoed"
    assert seconds < 5, f"took {seconds:.1f}s"


def test_every_class_has_cases() -> None:
    counts = Counter(case.kind for case in CASES)
    assert all(n >= 1 for n in counts.values())
    assert len(counts) >= 9, counts


def test_the_unmodified_minimal_stack_loads(tmp_path: Path) -> None:
    """The cases fail for their one change, not because the base is bad."""
    code, stderr, _ = refuse(Case("none", "base"), tmp_path)
    assert (code, stderr) == (0, "")


def test_a_valid_ciphertext_is_accepted_as_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.development.yaml"
    path.write_text(base_text(**{"websys:jwtSecret": {"secure": ciphertext()}}))
    config, settings = load_stack_config("development", stack_file=path)
    assert "websys:jwtSecret" in config.secret_keys
    assert settings.jwt_secret is not None


def test_a_duplicate_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.development.yaml"
    text = base_text() + "  websys:database:\n    name: other\n"
    path.write_text(text)
    line = text.splitlines().index("  websys:database:", text.splitlines().index("  websys:database:") + 1) + 1
    result = run_websys("plan", "development", "--stack-file", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"Pulumi.development.yaml:{line}: duplicate key 'websys:database'\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "Pulumi.development.yaml"
    os.mkfifo(fifo)
    code, stderr, seconds = refuse(Case("bounds", "fifo", path=str(fifo)), tmp_path / "unused")
    assert code == 2
    assert "not a regular file" in stderr
    assert seconds < 2


def test_set_errors_name_the_option_not_the_stack_file(tmp_path: Path) -> None:
    result = run_websys(
        "plan", "development", "--stack-file", str(stack_file("development")), "--set", "backend.blue.replicas=x"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("--set backend.blue.replicas=x: websys:backend.blue.replicas: "), result.stderr
    secret = run_websys(
        "plan",
        "development",
        "--stack-file",
        str(stack_file("development")),
        "--secret",
        f"backend.blue.replicas={SECRET}",
    )
    assert secret.returncode == 2
    assert secret.stderr.startswith("--secret backend.blue.replicas: websys:backend.blue.replicas: "), secret.stderr
    assert SECRET not in secret.stderr


def test_a_mistyped_namespace_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.development.yaml"
    path.write_text(base_text(**{"websy:backend": {"port": 1}}))
    code, stderr, _ = refuse(Case("typo", "namespace", path=str(path)), tmp_path)
    assert code == 2
    assert stderr == "Pulumi.development.yaml: websy:backend: unknown namespace 'websy'; did you mean websys:backend?\n"


def test_a_mistyped_stack_file_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.development.yaml"
    path.write_text(base_text().replace("config:", "conifg:", 1))
    code, stderr, _ = refuse(Case("typo", "config", path=str(path)), tmp_path)
    assert code == 2
    assert stderr == "Pulumi.development.yaml: conifg: unknown key of a stack file; did you mean 'config'?\n"


def test_a_mistyped_top_level_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.development.yaml"
    path.write_text(base_text(**{"websys:postgress": {"replicas": 1}}))
    code, stderr, _ = refuse(Case("typo", "key", path=str(path)), tmp_path)
    assert code == 2
    assert stderr == "Pulumi.development.yaml: websys:postgress: unknown key; did you mean 'postgres'?\n"


def test_a_value_passed_as_secret_never_appears_in_the_plan(tmp_path: Path) -> None:
    """`--secret` to keys the program uses as plain text: the plan marks every input holding it."""
    path = tmp_path / "Pulumi.development.yaml"
    path.write_text(base_text())
    config = read_stack_file(path)
    domain = "secret-host.example.com"
    apply_override(config, f"domains.api={domain}", secret=True, flag="--secret")
    apply_override(config, "monitoring.grafanaPath=/hidden-dashboards/", secret=True, flag="--secret")
    plan = record_plan("development", config)
    text = plan.dumps()
    assert domain not in text
    assert "hidden-dashboards" not in text
    assert "[secret]" in text
    # ...and the value did reach the program: without --secret it is in the plan.
    plain = read_stack_file(path)
    apply_override(plain, f"domains.api={domain}", secret=False, flag="--set")
    assert domain in record_plan("development", plain).dumps()


def test_the_programs_own_reader_refuses_deep_or_aliased_engine_values_with_one_line() -> None:
    """Under `pulumi up` the engine hands the program strings (objects as JSON): a value nested
    beyond the interpreter's recursion limit, or a dotted key holding an alias bomb, is one line."""
    engine = {key: json.dumps(value) if not isinstance(value, str) else value for key, value in BASE.items()}
    deep = {**engine, "websys:backend": "[" * 100_000 + "]" * 100_000}
    with pytest.raises(SettingsError, match=r"^Pulumi.development.yaml: websys:backend: "):
        parse_settings("development", deep, [])
    bomb = {**engine, "websys:proxy.permissionsPolicy": ALIAS_BOMB.split("websys:x:\n", 1)[1]}
    started = time.monotonic()
    with pytest.raises(SettingsError, match=r"^Pulumi.development.yaml: websys:proxy.permissionsPolicy: "):
        parse_settings("development", bomb, [])
    assert time.monotonic() - started < 5


def _string_defaults(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted camelCase path, default) of every string setting that has a default."""
    for field_info in model.model_fields.values():
        path = f"{prefix}{field_info.alias}"
        default = field_info.default
        if isinstance(default, str):
            yield path, default
        elif isinstance(default, BaseModel):
            yield from _string_defaults(type(default), f"{path}.")


STRING_DEFAULTS = sorted(_string_defaults(Settings))


@pytest.mark.parametrize(("path", "default"), STRING_DEFAULTS, ids=[path for path, _ in STRING_DEFAULTS])
def test_no_string_setting_takes_a_trailing_newline(path: str, default: str, tmp_path: Path) -> None:
    """Every string setting, however it is checked (pattern, regex, Literal): its default passes,
    and the default followed by a newline does not."""
    stack = tmp_path / "Pulumi.development.yaml"
    stack.write_text(base_text())
    load_stack_config("development", [f"{path}={json.dumps(default)}"], stack_file=stack)
    code, stderr, _ = refuse(Case("trailing newline", path, sets=[f"{path}={json.dumps(default + chr(10))}"]), tmp_path)
    assert code == 2, stderr
    assert f": websys:{path}: " in stderr


SECRET_TARGETS = st.one_of(
    st.from_regex(r"[a-z]{6,10}\.example\.com", fullmatch=True).map(lambda v: ("domains.api", v)),
    st.from_regex(r"/[a-z]{6,10}/", fullmatch=True).map(lambda v: ("monitoring.grafanaPath", v)),
    st.from_regex(r"camera=\(\), [a-z]{6,10}=\(\)", fullmatch=True).map(lambda v: ("proxy.permissionsPolicy", v)),
    st.from_regex(r"/[a-z]{6,10}", fullmatch=True).map(lambda v: ("backend.healthcheck.path", v)),
    st.from_regex(r"db_[a-z]{6,10}", fullmatch=True).map(lambda v: ("database.name", v)),
)


@hypothesis_settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=SECRET_TARGETS)
def test_any_value_passed_with_secret_is_absent_from_the_plan(target: tuple[str, str]) -> None:
    path, value = target
    config = read_stack_file(stack_file("development"))
    apply_override(config, f"{path}={value}", secret=True, flag="--secret")
    plan = record_plan("development", config)
    assert value not in plan.dumps()
    assert all(value not in message for _, message in plan.diagnostics)


def test_each_of_those_keys_reaches_the_plan_when_not_secret() -> None:
    """So the test above is not vacuous: set plainly, every one of the values is in the plan."""
    values = {
        "domains.api": "plainapi.example.com",
        "monitoring.grafanaPath": "/plaingrafana/",
        "proxy.permissionsPolicy": "camera=(), plainpolicy=()",
        "backend.healthcheck.path": "/plainhealth",
        "database.name": "db_plainname",
    }
    config = read_stack_file(stack_file("development"))
    for path, value in values.items():
        apply_override(config, f"{path}={value}", secret=False, flag="--set")
    text = record_plan("development", config).dumps()
    assert [path for path, value in values.items() if value not in text] == []
