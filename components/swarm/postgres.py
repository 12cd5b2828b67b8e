"""PostgreSQL on Swarm: a primary and streaming replicas, each a one-task service pinned to its node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pulumi
import pulumi_docker as docker

from components.postgres import ready_probe
from components.swarm import task
from websys import naming
from websys.render import postgres as files
from websys.settings import Settings

SecretMount = Callable[..., docker.ServiceTaskSpecContainerSpecSecretArgs]
ConfigMount = Callable[..., docker.ServiceTaskSpecContainerSpecConfigArgs]


def primary_node_label() -> str:
    return "websys.postgres-primary"


def replica_node_label(index: int) -> str:
    return f"websys.postgres-replica-{index}"


def secret_file(path: str) -> str:
    """A secret's file name under /run/secrets, where the renderers expect it."""
    return str(PurePosixPath(path).relative_to(files.SECRETS_DIR))


@dataclass(frozen=True)
class SwarmPostgresArgs:
    settings: Settings
    data_network: pulumi.Input[str]  # the data overlay's id
    mount_secret: SecretMount  # SwarmSecrets.mount: "database-password", "replication-password"
    mount_config: ConfigMount  # SwarmConfigs.mount: "postgresql-conf", "pg-hba-conf", init and replica scripts


class SwarmPostgres(pulumi.ComponentResource):
    """Each server is one service with one task, constrained to the node labelled for it, where its
    named volume lives (Swarm never moves a volume: the label pins the task to its data). The same
    renderers as on one host provide the files, as Swarm configs; passwords are Swarm secrets."""

    primary_name: str
    replica_names: list[str]

    def __init__(self, name: str, args: SwarmPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmPostgres", name, None, opts)
        settings = args.settings
        pg, env = settings.postgres, settings.environment
        uid, gid = pg.user.split(":")
        owned = {"uid": uid, "gid": gid}
        configs = [
            args.mount_config("postgresql-conf", files.POSTGRESQL_CONF),
            args.mount_config("pg-hba-conf", files.PG_HBA_CONF),
        ]
        replication_password = args.mount_secret(
            "replication-password", secret_file(files.REPLICATION_PASSWORD_FILE), **owned
        )
        promoted = pg.promoted_replica
        self.services: dict[str, docker.Service] = {}
        primary: docker.Service | None = None
        if not promoted:
            primary = self._service(
                f"{name}-primary",
                args,
                naming.postgres_primary(env),
                role="primary",
                node_label=primary_node_label(),
                aliases=[naming.POSTGRES_PRIMARY_HOST],
                arguments=["postgres", "-c", f"config_file={files.POSTGRESQL_CONF}"],
                env={
                    "PGDATA": files.PGDATA,
                    "POSTGRES_PASSWORD_FILE": files.DATABASE_PASSWORD_FILE,
                    "POSTGRES_USER": files.SUPERUSER,
                    "POSTGRES_INITDB_ARGS": "--data-checksums --auth-local=peer --auth-host=scram-sha-256",
                },
                configs=[*configs, args.mount_config("postgres-init", files.INIT_SCRIPT, mode=0o555)],
                secrets=[
                    args.mount_secret("database-password", secret_file(files.DATABASE_PASSWORD_FILE), **owned),
                    replication_password,
                    args.mount_secret("backup-password", secret_file(files.BACKUP_PASSWORD_FILE), **owned),
                ],
                start_seconds=300,
            )
            self.services["primary"] = primary
        replicas: dict[int, docker.Service] = {}
        order = sorted(range(1, pg.replicas + 1), key=lambda index: index != promoted)
        for index in order:
            serving = replicas.get(promoted) or primary
            replicas[index] = self._service(
                f"{name}-replica-{index}",
                args,
                naming.postgres_replica(env, index),
                role="primary" if index == promoted else "replica",
                node_label=replica_node_label(index),
                aliases=[files.replica_host(index), *([naming.POSTGRES_PRIMARY_HOST] if index == promoted else [])],
                arguments=[files.REPLICA_SCRIPT],
                env={"PGDATA": files.PGDATA},
                configs=[
                    *configs,
                    args.mount_config(f"postgres-replica-{index}-start", files.REPLICA_SCRIPT, mode=0o555),
                ],
                secrets=[replication_password],
                start_seconds=pg.replica_start_timeout_seconds,
                depends_on=[serving] if serving is not None and index != promoted else None,
            )
            self.services[f"replica-{index}"] = replicas[index]
        self.primary_name = naming.postgres_replica(env, promoted) if promoted else naming.postgres_primary(env)
        self.replica_names = [
            naming.postgres_replica(env, index) for index in range(1, pg.replicas + 1) if index != promoted
        ]
        self.primary = replicas[promoted] if promoted else primary
        self.register_outputs({"primary_name": self.primary_name, "replica_names": self.replica_names})

    def _service(
        self,
        resource_name: str,
        args: SwarmPostgresArgs,
        service_name: str,
        *,
        role: str,
        node_label: str,
        aliases: list[str],
        arguments: list[str],
        env: dict[str, str],
        configs: Sequence[docker.ServiceTaskSpecContainerSpecConfigArgs],
        secrets: Sequence[docker.ServiceTaskSpecContainerSpecSecretArgs],
        start_seconds: int,
        depends_on: Sequence[pulumi.Resource] | None = None,
    ) -> docker.Service:
        settings = args.settings
        pg, swarm = settings.postgres, settings.swarm
        labels = {
            "com.websys.environment": settings.environment,
            "com.websys.service": "postgres",
            "com.websys.role": role,
        }
        volume = f"{service_name}-data"
        return docker.Service(
            resource_name,
            name=service_name,
            labels=task.service_labels(labels),
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=1)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    image=task.pinned_image(pg.image),
                    # `args`, not `commands`: the image's entrypoint stays (initdb on first start).
                    args=arguments,
                    env=dict(sorted(env.items())),
                    user=pg.user,
                    configs=list(configs),
                    secrets=list(secrets),
                    mounts=[
                        docker.ServiceTaskSpecContainerSpecMountArgs(
                            target=files.VOLUME_DIR,
                            type="volume",
                            source=volume,
                            volume_options=docker.ServiceTaskSpecContainerSpecMountVolumeOptionsArgs(
                                labels=[
                                    docker.ServiceTaskSpecContainerSpecMountVolumeOptionsLabelArgs(
                                        label=key, value=value
                                    )
                                    for key, value in sorted(labels.items())
                                ]
                            ),
                        ),
                        task.tmpfs("/dev/shm", pg.shm_size_mb),  # noqa: S108 the task's own shared memory
                    ],
                    cap_drops=["ALL"],
                    healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
                        tests=ready_probe(settings),
                        interval="10s",
                        timeout="5s",
                        retries=5,
                        # Failures while initdb runs or a replica clones do not count against it.
                        start_period=task.seconds(start_seconds),
                    ),
                    # A fast shutdown checkpoints; give it time rather than SIGKILL.
                    stop_signal="SIGINT",
                    stop_grace_period=task.seconds(task.DATA_STOP_GRACE_SECONDS),
                    hostname=service_name,
                    labels=task.container_labels(labels),
                ),
                resources=task.resources(pg.cpus, pg.memory_mb, 100),  # a database gets what it is limited to
                restart_policy=task.restart_policy(),
                placement=docker.ServiceTaskSpecPlacementArgs(
                    constraints=[task.node_constraint(node_label)], max_replicas=1
                ),
                log_driver=task.log_driver(settings.logging),
                networks_advanceds=[
                    docker.ServiceTaskSpecNetworksAdvancedArgs(id=args.data_network, aliases=[service_name, *aliases])
                ],
            ),
            update_config=task.stateful_update(swarm),
            rollback_config=task.rollback(swarm, order="stop-first"),
            converge_config=docker.ServiceConvergeConfigArgs(delay="7s", timeout=task.seconds(start_seconds + 60)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, ignore_changes=task.SERVICE_IGNORED),
        )
