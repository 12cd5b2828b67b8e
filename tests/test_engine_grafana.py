"""Grafana's admin password rotation on a real Docker Engine: the plan's Grafana container and the
command after it (websys/push/grafana-admin-password.sh), nothing else of the stack.

Staging's plan (no other engine test deploys staging, so its names are free on a shared daemon)
is recorded with a first password; the test applier creates the Grafana container, its networks
and volume, and runs the command. Then, as in a rotation, the container is recreated from the plan
of a second password on the same volume: the database it finds still has the first password
(GF_SECURITY_ADMIN_PASSWORD counts only when the database is created), until the second plan's
command runs. The image is the Grafana look-alike (tests/engine/images/grafana), whose stand-in
`grafana cli admin reset-admin-password --password-from-stdin` follows Grafana's own command.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from tests.engine.applier import CONTAINER, LOCAL_COMMAND, Applier, ApplyError
from tests.engine.checks import wait_until
from tests.engine.daemon import Engine
from tests.engine.deployment import replan
from tests.engine.fixtures import LookalikeImages
from websys.plan import PlannedResource

STACK = "staging"
CONTAINER_NAME = "websys-staging-grafana"
FIRST = "Grafana-Engine-First-1"
SECOND = "Grafana-Engine-Second-2"
GRAFANA = {"monitoring-grafana", "monitoring-grafana-image", "monitoring-grafana-data"}
NETWORKS = {"monitoring-network", "network-edge"}
COMMAND = "monitoring-grafana-admin-password"
# GET /api/user with basic auth, from inside the container (its networks are internal): the status.
PROBE = """
import base64, sys, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:3000/grafana/api/user")
request.add_header("Authorization", "Basic " + sys.stdin.read().strip())
try:
    print(urllib.request.urlopen(request, timeout=5).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("unanswered")  # not listening yet
"""
# How long a Grafana that is starting may take to answer at all.
ANSWER_SECONDS = 60


def _only(names: set[str]) -> Callable[[PlannedResource], bool]:
    return lambda resource: resource.name in names


def sign_in(engine: Engine, password: str) -> int:
    """The status Grafana answers admin:<password> with (the credentials go on stdin, not argv),
    once it answers (bounded: a container just started may not listen yet)."""
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    answers: list[str] = []

    def answered() -> bool:
        result = engine.docker("exec", "-i", CONTAINER_NAME, "python3", "-c", PROBE, input_text=token)
        answers.append(result.stdout.strip())
        return answers[-1] != "unanswered"

    wait_until(answered, "Grafana answering", timeout=ANSWER_SECONDS, pause=0.5)
    return int(answers[-1])


@pytest.fixture
def first(engine: Engine, lookalikes: LookalikeImages) -> Iterator[Applier]:
    applier = Applier(engine, replan(engine, STACK, [], [f"grafanaAdminPassword={FIRST}"]), lookalikes.for_image)
    try:
        yield applier
    finally:
        applier.destroy()


def test_a_rotated_password_takes_effect_on_the_kept_database(engine: Engine, first: Applier) -> None:
    first.apply(select=_only({*GRAFANA, *NETWORKS, COMMAND}))
    assert sign_in(engine, FIRST) == 200
    assert sign_in(engine, SECOND) == 401

    second = Applier(engine, replan(engine, STACK, [], [f"grafanaAdminPassword={SECOND}"]), first.image_for)
    try:
        grafana = second.plan.resource("monitoring-grafana", CONTAINER)
        # The rotation replaces the container, delete first (pulumi-docker); its volume stays.
        engine.docker("rm", "--force", CONTAINER_NAME)
        # Started without the engine's wait for healthy, so that the script's own bounded wait
        # for /api/health is what stands between a starting Grafana and the CLI.
        second.plan.inputs[grafana.urn]["wait"] = False
        second.apply(select=_only(GRAFANA - {"monitoring-grafana-data"}))
        assert sign_in(engine, FIRST) == 200, "the new container's GF_SECURITY_ADMIN_PASSWORD changed the database"
        assert sign_in(engine, SECOND) == 401

        # Those sign-ins waited for Grafana to answer; restarted, it is starting again when the
        # command runs, as right after the replacement.
        engine.docker("restart", CONTAINER_NAME)
        command = second.plan.resource(COMMAND, LOCAL_COMMAND)
        result = second.run_command(command.name, second.plan.inputs[command.urn])
        assert "the admin password is the stack's" in result.stdout
        assert SECOND not in result.stdout + result.stderr
        assert FIRST not in result.stdout + result.stderr
        assert sign_in(engine, SECOND) == 200
        assert sign_in(engine, FIRST) == 401
    finally:
        second.destroy()


def test_a_grafana_that_never_answers_fails_the_command_and_says_so(engine: Engine) -> None:
    applier = Applier(engine, replan(engine, STACK, [], [f"grafanaAdminPassword={FIRST}"]), lambda image: image)
    command = applier.plan.resource(COMMAND, LOCAL_COMMAND)
    inputs = applier.plan.inputs[command.urn]
    environment = {
        **inputs["environment"],
        "WEBSYS_EXEC": "docker exec -i websys-staging-grafana-absent",  # no such container: no answer
        "WEBSYS_GRAFANA_WAIT_SECONDS": "2",
    }
    with pytest.raises(ApplyError) as failure:
        applier.run_command(command.name, {**inputs, "environment": environment})
    message = str(failure.value)
    assert "Grafana did not answer http://127.0.0.1:3000/grafana/api/health within 2s" in message
    assert "the admin password is unchanged" in message
    assert FIRST not in message
