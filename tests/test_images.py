"""Images built by the program (components/images.py) and pulled from a registry, as recorded in the
plan, their settings, their Dockerfiles, and `make up`'s checks before it creates a stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.planning import CONTAINER, REMOTE_IMAGE, containers, plan_for, run_websys, stack_file
from websys.plan import PROJECT_DIR, Plan, PlannedResource
from websys.settings.images import DOCKERFILES
from websys.settings.types import _image_reference

BUILD = "docker-build:index:Image"
BUILT = [
    "images.build=[frontend, backend, backup]",
    "frontend.blue.image=websys-local/frontend:t1",
    "frontend.green.image=websys-local/frontend:t1",
    "backend.blue.image=websys-local/backend:t1",
    "backend.green.image=websys-local/backend:t1",
    "backup.image=websys-local/backup:t1",
]


def by_name(plan: Plan, type_: str, name: str) -> PlannedResource:
    return next(r for r in plan.of_type(type_) if r.name == name)


@pytest.fixture(scope="module")
def built_plan() -> Plan:
    return plan_for("development", sets=BUILT)


def test_each_built_service_is_one_build_from_its_dockerfile_into_the_local_daemon(built_plan: Plan) -> None:
    builds = {r.name: r for r in built_plan.of_type(BUILD)}
    assert sorted(builds) == ["images-backend", "images-backup", "images-frontend"]
    for service, (dockerfile, context) in DOCKERFILES.items():
        inputs = builds[f"images-{service}"].inputs
        assert inputs["dockerfile"] == {"location": dockerfile}
        assert inputs["context"] == {"location": context}
        assert (PROJECT_DIR / dockerfile).is_file()
        assert (PROJECT_DIR / context).is_dir()
        assert inputs["push"] is False
        assert [export.keys() for export in inputs["exports"]] == [{"docker": None}.keys()]
        assert inputs["tags"] == [f"websys-local/{service}:t1"]
        assert "buildArgs" not in inputs  # the Dockerfiles' pinned BASE_IMAGE
    # The builds run on the stack's Docker host, through their own provider.
    provider = next(r for r in built_plan.resources if r.type == "pulumi:providers:docker-build")
    assert provider.inputs["host"] == "unix:///var/run/docker.sock"
    assert all(r.provider.startswith(provider.urn) for r in builds.values())


def test_containers_run_the_built_image_by_id_read_back_after_the_build(built_plan: Plan) -> None:
    for service, container_service in (("backend", "backend"), ("frontend", "frontend"), ("backup", "backup")):
        image = by_name(built_plan, REMOTE_IMAGE, f"images-{service}-image")
        build = by_name(built_plan, BUILD, f"images-{service}")
        assert image.inputs["name"] == f"websys-local/{service}:t1"
        assert image.inputs["keepLocally"] is True
        assert build.urn in image.dependencies
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image.inputs["triggers"]["digest"])
        container = containers(built_plan, container_service)[0]
        assert image.urn in container.dependencies
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", container.inputs["image"])
    # Nothing is pulled for a built service: no RemoteImage of its own under the app components.
    pulled = {r.inputs["name"] for r in built_plan.of_type(REMOTE_IMAGE) if not r.name.startswith("images-")}
    assert not any(name.startswith("websys-local/") for name in pulled)


def test_the_same_build_inputs_give_the_same_container_and_new_ones_a_new_image(built_plan: Plan) -> None:
    again = plan_for("development", sets=BUILT)
    assert [c.inputs["image"] for c in containers(again)] == [c.inputs["image"] for c in containers(built_plan)]
    rebased = plan_for("development", sets=[*BUILT, "images.baseImage=debian:12.12-slim"])
    build = by_name(rebased, BUILD, "images-backend")
    assert build.inputs["buildArgs"] == {"BASE_IMAGE": "debian:12.12-slim"}
    before = containers(built_plan, "backend")[0].inputs["image"]
    assert containers(rebased, "backend")[0].inputs["image"] != before


def test_a_stack_without_builds_pulls_its_images_and_has_no_builder() -> None:
    plan = plan_for("development", sets=["images.build=[]", "backend.blue.image=registry.example.com/backend:2.0.0"])
    assert plan.of_type(BUILD) == []
    assert not any(r.type == "pulumi:providers:docker-build" for r in plan.resources)
    pulled = by_name(plan, REMOTE_IMAGE, "backend-blue-image")
    assert pulled.inputs["name"] == "registry.example.com/backend:2.0.0"
    assert pulled.urn in containers(plan, "backend", "blue")[0].dependencies


def test_registry_credentials_come_from_the_docker_client_config() -> None:
    plan = plan_for("development", sets=["registry.server=registry.example.com:5000"])
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:docker")
    auth = json.loads(provider.inputs["registryAuth"])  # a provider's structured config arrives as JSON text
    assert auth == [{"address": "registry.example.com:5000", "configFile": "~/.docker/config.json"}]
    no_registry = plan_for("development")
    provider = next(r for r in no_registry.resources if r.type == "pulumi:providers:docker")
    assert "registryAuth" not in provider.inputs


@pytest.mark.parametrize(
    ("stack", "assignment", "message"),
    [
        ("staging", "images.build=[backend]", "websys:images.build: images are built in development only"),
        ("development", "images.build=[backend, backend]", "websys:images.build: lists a service twice"),
        ("development", "images.build=[database]", "websys:images.build.0: input should be 'frontend', 'backend'"),
        ("development", "images.build=[]", ""),
        ("development", "registry.server=https://registry.example.com", "websys:registry.server: 'https://"),
    ],
)
def test_bad_image_settings_are_one_line_with_exit_2(stack: str, assignment: str, message: str) -> None:
    sets = [assignment] if message else ["images.build=[]", "images.baseImage=debian:12.12-slim"]
    result = run_websys(
        "plan", stack, "--stack-file", str(stack_file(stack)), *[arg for s in sets for arg in ("--set", s)]
    )
    assert result.returncode == 2, result.stdout
    expected = message or "websys:images.baseImage: is the base of built images, and images.build lists none"
    # The error names the option that caused it, not the stack file.
    culprit = assignment if message else sets[1]
    assert result.stderr.startswith(f"--set {culprit}: {expected}"), result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("dockerfile", sorted(path for path, _ in DOCKERFILES.values()))
def test_each_dockerfile_takes_its_base_as_an_arg_with_a_pinned_default(dockerfile: str) -> None:
    text = (PROJECT_DIR / dockerfile).read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert instructions[0].startswith("ARG BASE_IMAGE=")
    _image_reference(instructions[0].removeprefix("ARG BASE_IMAGE="))  # raises unless pinned
    assert [line for line in instructions if line.startswith("FROM")] == ["FROM ${BASE_IMAGE}"]
    assert "USER 1000:1000" in instructions


def test_the_backup_image_pins_the_versions_the_program_is_tested_with() -> None:
    def pins(path: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.startswith("#"):
                found[name.lower().replace("_", "-")] = version
        return found

    image, program = pins(PROJECT_DIR / "docker" / "backup-requirements.txt"), pins(PROJECT_DIR / "requirements.txt")
    assert {"typer", "boto3", "psycopg", "psycopg-binary", "rich"} <= image.keys()
    assert {name: image[name] for name in image.keys() & program.keys()} == {
        name: program[name] for name in image.keys() & program.keys()
    }


# --- make up ---


def make_up(*args: str, cwd: Path = PROJECT_DIR, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "up", *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False, env=env
    )


def test_make_up_refuses_an_unknown_stack_with_the_list_of_stacks() -> None:
    result = make_up("STACK=prodution")
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first == "make up: unknown STACK 'prodution': choose one of: development production staging"


def check_local_state(tmp_path: Path, host: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Pulumi.remote.yaml").write_text(f"config:\n  websys:docker:\n    host: {host}\n", encoding="utf-8")
    return subprocess.run(
        [str(PROJECT_DIR / "scripts" / "check-local-state.sh"), "remote", str(PROJECT_DIR / "venv" / "bin" / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
        stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "PULUMI_BACKEND_URL": f"file://{tmp_path}/state", **env},
    )


def test_make_up_warns_before_creating_local_state_for_a_remote_docker_host(tmp_path: Path) -> None:
    refused = check_local_state(tmp_path, "ssh://deploy@docker.example.com")
    assert refused.returncode == 1
    assert "runs its containers on ssh://deploy@docker.example.com" in refused.stderr
    assert "PULUMI_BACKEND_URL=s3://<bucket>" in refused.stderr
    agreed = check_local_state(tmp_path, "tcp://docker.example.com:2376", WEBSYS_LOCAL_STATE="yes")
    assert agreed.returncode == 0
    assert "creating local state anyway" in agreed.stderr
    local = check_local_state(tmp_path, "unix:///var/run/docker.sock")
    assert (local.returncode, local.stderr) == (0, "")
    (tmp_path / "state" / ".pulumi" / "stacks" / "websys").mkdir(parents=True)
    (tmp_path / "state" / ".pulumi" / "stacks" / "websys" / "remote.json").write_text("{}", encoding="utf-8")
    existing = check_local_state(tmp_path, "ssh://deploy@docker.example.com")
    assert (existing.returncode, existing.stderr) == (0, "")  # nothing new is created


def test_built_plans_have_containers_with_image_ids_only(built_plan: Plan) -> None:
    for container in built_plan.of_type(CONTAINER):
        assert container.inputs["image"].startswith("sha256:"), container.name
