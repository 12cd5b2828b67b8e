"""Grafana's admin password, set in its database whenever it changes (not only at the first start).

GF_SECURITY_ADMIN_PASSWORD counts only when Grafana creates its database, which lives on a kept
volume: a rotated password recreates the container, but the database keeps the old one. A
pulumi-command `local.Command` therefore runs `websys/push/grafana-admin-password.sh` once the
container is up: it waits for /api/health and runs Grafana's own
`grafana cli admin reset-admin-password --password-from-stdin` through `docker exec`.

The same holds on `platform: swarm`: monitoring stays plain containers on the program's Docker
host (the Swarm manager; docs/swarm.md), so `docker exec` reaches this container there too.
"""

from __future__ import annotations

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from monitoring import files, runtime, targets
from websys.push import GRAFANA_ADMIN_SCRIPT, grafana_password_environment, script_text
from websys.settings import Settings
from websys.settings.text import sh_word, sha256_hex

RESOURCE = f"{files.GRAFANA_RESOURCE}-admin-password"


def grafana_admin_password(
    settings: Settings, grafana: docker.Container, password: pulumi.Output[str], parent: pulumi.Resource
) -> command.local.Command:
    """The command that makes the admin password in Grafana's database the stack's `password` (secret)."""
    container = targets.grafana_name(settings.environment)
    environment: dict[str, pulumi.Input[str]] = {
        "DOCKER_HOST": settings.docker.host,
        **grafana_password_environment(
            f"docker exec -i {sh_word(container)}", runtime.grafana_health_url(settings), pulumi.Output.secret(password)
        ),
    }
    # Replaced (so run again) when the password changes, and when the container is replaced: a new
    # container may find a database (a restored volume) with another password. The trigger is the
    # password's digest, itself kept secret: a bare hash in a published plan would let anyone test
    # guesses against it; `[secret]` in plans, encrypted in the state.
    digest: pulumi.Output[str] = pulumi.Output.secret(password.apply(sha256_hex))
    return command.local.Command(
        RESOURCE,
        create=script_text(GRAFANA_ADMIN_SCRIPT),
        interpreter=["/bin/sh", "-c"],
        environment=environment,
        triggers=[grafana.id, digest],
        add_previous_output_in_env=False,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[grafana]),
    )
