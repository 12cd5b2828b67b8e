"""The settings model: each stack file loads with the guide's values; bad input gives one line."""

from __future__ import annotations

import contextlib
import io
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.planning import plan_for, run_websys, stack_file, stack_settings, websys_in_process
from websys.cli.common import load_stack_config
from websys.plan import PROJECT_DIR
from websys.settings import Settings, SettingsError, stack_file_name
from websys.stackfile import read_stack_file


def load(stack: str) -> Settings:
    return stack_settings(stack)


def test_development_has_the_guides_values() -> None:
    s = load("development")
    assert (s.environment, s.node_env) == ("development", "development")
    assert s.docker.host == "unix:///var/run/docker.sock"
    assert (s.domains.frontend, s.domains.api) == ("localhost", "localhost")
    assert (s.frontend.port, s.backend.port) == (3000, 8000)
    assert s.database.name == "websys_db_dev"
    assert (s.frontend.replicas("blue"), s.backend.replicas("blue")) == (1, 1)
    assert s.backend.healthcheck.path == "/health"


def test_staging_has_the_guides_values() -> None:
    s = load("staging")
    assert (s.environment, s.node_env) == ("staging", "staging")
    assert s.docker.host.startswith("ssh://")
    assert (s.domains.frontend, s.domains.api) == ("staging.websys.company.com", "api-staging.websys.company.com")
    assert s.api_base_url == "https://api-staging.websys.company.com"
    assert s.database.name == "websys_db_staging"


def test_production_has_the_guides_values() -> None:
    s = load("production")
    assert (s.environment, s.node_env) == ("production", "production")
    assert s.docker.host.startswith("ssh://")
    assert (s.domains.frontend, s.domains.api) == ("websys.company.com", "api.websys.company.com")
    assert s.api_base_url == "https://api.websys.company.com"
    assert s.database.name == "websys_db_prod"
    assert (s.frontend.replicas("blue"), s.backend.replicas("blue")) == (2, 3)


@pytest.mark.committed
def test_stack_files_hold_no_plaintext_secret() -> None:
    for stack in ("development", "staging", "production"):
        config = read_stack_file(PROJECT_DIR / stack_file_name(stack))
        assert not config.secret_keys, f"{stack} should keep secrets out of the file until set with --secret"


# (flag, assignment, expected key, a fragment of the reason)
BAD_INPUT = [
    ("--set", "backend.blue.replicas=three", "websys:backend.blue.replicas", "valid integer"),
    ("--set", "backend.blue.replicas=-1", "websys:backend.blue.replicas", "greater than or equal to 0"),
    ("--set", "backend.blue.replicas=100000", "websys:backend.blue.replicas", "less than or equal to 500"),
    ("--set", "backend.resources.cpus=0", "websys:backend.resources.cpus", "greater than 0"),
    ("--set", "backend.blue.replcas=3", "websys:backend.blue.replcas", "unknown key; did you mean 'replicas'?"),
    ("--set", "backnd.port=8000", "websys:backnd", "unknown key; did you mean 'backend'?"),
    ("--set", "domains.api=api..websys.company.com", "websys:domains.api", "not a valid domain name"),
    ("--set", "domains.frontend=websys_company", "websys:domains.frontend", "not a valid domain name"),
    ("--set", "backend.port=70000", "websys:backend.port", "less than or equal to 65535"),
    ("--set", "frontend.port=0", "websys:frontend.port", "greater than or equal to 1"),
    (
        "--set",
        "backend.blue.image=registry.websys.company.com/websys/backend",
        "websys:backend.blue.image",
        "not pinned",
    ),
    ("--set", "backend.blue.image=nginx:latest", "websys:backend.blue.image", "uses 'latest'"),
    ("--set", "backend.blue.image=Not An Image", "websys:backend.blue.image", "not a Docker image reference"),
    ("--set", "docker.host=http://docker.example.com", "websys:docker.host", "not a Docker host"),
    ("--set", "logging.maxSize=10 MB", "websys:logging.maxSize", "not a size"),
    ("--set", "deploy.activeColor=purple", "websys:deploy.activeColor", "'blue' or 'green'"),
    ("--set", "deploy.activeColor=green", "websys:deploy.activeColor", "has no frontend replicas"),
    (
        "--set",
        "databasePassword=hunter2",
        "websys:databasePassword",
        "is a secret; pass it with --secret databasePassword=..., never --set",
    ),
    ("--set", "backend=5", "websys:backend", "valid dictionary"),
]


@pytest.mark.parametrize(("flag", "assignment", "key", "reason"), BAD_INPUT, ids=[case[1] for case in BAD_INPUT])
def test_bad_input_gives_one_line_naming_option_key_and_reason(
    flag: str, assignment: str, key: str, reason: str
) -> None:
    """An error caused by `--set` names the option (with its value, unless the key is a secret's)."""
    args = ("plan", "development", "--stack-file", str(stack_file("development")), flag, assignment)
    result = websys_in_process(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    option = f"{flag} {assignment.partition('=')[0]}" if "hunter2" in assignment else f"{flag} {assignment}"
    assert lines[0].startswith(f"{option}: {key}: "), lines[0]
    assert reason in lines[0]
    assert "hunter2" not in result.stderr


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    document = yaml.safe_load(stack_file("staging").read_text())
    del document["config"]["websys:domains"]
    edited = tmp_path / "Pulumi.staging.yaml"
    edited.write_text(yaml.safe_dump(document))
    result = run_websys("plan", "staging", "--stack-file", str(edited))
    assert result.returncode == 2
    assert result.stderr == "Pulumi.staging.yaml: websys:domains: required key is missing\n"


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.development.yaml"
    stack_file.write_text("config:\n  websys:backend: [unclosed\n")
    result = run_websys("plan", "development", "--stack-file", str(stack_file))
    assert result.returncode == 2
    assert result.stderr.startswith("Pulumi.development.yaml:3: not valid YAML: ")
    assert len(result.stderr.splitlines()) == 1


def test_the_program_itself_refuses_bad_config_with_the_same_line() -> None:
    """Under `pulumi up` the program raises a RunError, which the engine prints as its message alone."""
    with pytest.raises(SettingsError) as raised:
        plan_for("production", sets=["backend.blue.replicas=-2"])
    assert str(raised.value) == (
        "Pulumi.production.yaml: websys:backend.blue.replicas: input should be greater than or equal to 0 (got -2)"
    )


def _one_line_error(stack: str, assignment: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exited:
        load_stack_config(stack, sets=[assignment], stack_file=stack_file(stack))
    return int(exited.value.code or 0), stderr.getvalue()


bad_replicas = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=501),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=8).filter(
        lambda t: t.lower() not in ("null", "y", "n", "yes", "no", "on", "off", "true", "false", "~")
    ),
    st.lists(st.integers(), max_size=3),
)
bad_ports = st.one_of(st.integers(max_value=0), st.integers(min_value=65536))
bad_domains = st.text(alphabet=string.ascii_lowercase + "_!@ *", min_size=1, max_size=20).filter(
    lambda t: any(c in t for c in "_!@ *")
)
bad_images = st.one_of(
    st.from_regex(r"[a-z]{1,10}/[a-z]{1,10}", fullmatch=True),  # no tag
    st.from_regex(r"[a-z]{1,10}:latest", fullmatch=True),
    st.from_regex(r"[A-Z ]{1,5}[a-z]{0,5}:1\.0", fullmatch=True),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.one_of(
        bad_replicas.map(lambda v: ("backend.green.replicas", v)),
        bad_ports.map(lambda v: ("frontend.port", v)),
        bad_domains.map(lambda v: ("domains.frontend", v)),
        bad_images.map(lambda v: ("frontend.green.image", v)),
    )
)
def test_generated_bad_values_give_one_line_and_exit_2(case: tuple[str, object]) -> None:
    path, value = case
    code, stderr = _one_line_error(
        "production", f"{path}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
    )
    assert code == 2
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"--set {path}="), lines[0]
    assert f": websys:{path}: " in lines[0], lines[0]
    assert "Traceback" not in stderr
