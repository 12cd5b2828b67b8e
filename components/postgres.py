"""PostgreSQL 15 on the official image: a primary and streaming replicas on the internal data network."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.cpus import docker_cpus
from components.durations import go_duration
from components.hardening import hardened
from websys import naming
from websys.render import artifacts
from websys.render import postgres as files
from websys.settings import Settings


def ready_probe(settings: Settings) -> list[str]:
    """The containers' healthcheck: ready once the server accepts connections and listens on TCP.

    It asks over the unix socket (pg_hba.conf's `local all postgres peer`): a probe over TCP from
    127.0.0.1 matches no pg_hba.conf line, and the server logged `FATAL: no pg_hba.conf entry` at
    every probe (seen on a real engine: 8,640 lines a day). The TCP listener, read first from
    /proc/net/tcp (state 0A, LISTEN), tells the real server from the image's init server, which
    listens on the socket alone (and is not asked: a probe while it shuts down is logged as
    FATAL too). Needs no password, and only busybox's grep besides pg_isready.
    """
    port = settings.database.port
    return [
        "CMD-SHELL",
        f"grep -q ':{port:04X} [0-9A-F]*:[0-9A-F]* 0A' /proc/net/tcp /proc/net/tcp6"
        f" && pg_isready -q -h {files.SOCKET_DIR} -p {port} -U postgres -d postgres",
    ]


@dataclass(frozen=True)
class PostgresArgs:
    settings: Settings
    data_network: pulumi.Input[str]
    database_password: pulumi.Output[str]  # secret Outputs from StackSecrets
    replication_password: pulumi.Output[str]
    backup_password: pulumi.Output[str]  # the backup job's role, created by the init script


class Postgres(pulumi.ComponentResource):
    """The primary initialises itself through the official entrypoint (`/docker-entrypoint-initdb.d`);
    each replica clones it with `pg_basebackup -R -S <slot> -X stream` and follows it. Data lives on
    named volumes, protected and kept on delete where the stack says so (staging, production)."""

    primary_name: str
    replica_names: list[str]

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:postgres:Postgres", name, None, opts)
        settings = self._settings = args.settings
        pg = settings.postgres
        env = settings.environment
        image = docker.RemoteImage(
            f"{name}-image",
            name=pg.image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        uid, gid = pg.user.split(":")

        def secret_file(path: str, content: pulumi.Output[str]) -> docker.ContainerUploadArgs:
            """Readable by the server's user alone."""
            return docker.ContainerUploadArgs(file=path, content=content, owner=uid, group=gid, permissions="0400")

        replication_password_upload = secret_file(files.REPLICATION_PASSWORD_FILE, args.replication_password)

        # After a failover (`promotedReplica: i`), replica i serves as the primary: it carries the
        # `postgres-primary` alias the backend connects to, the other replicas follow it, and the
        # old primary's container is removed (fenced). Its volume stays until an operator drops it.
        promoted = pg.promoted_replica
        primary_volume = self._volume(f"{name}-primary-data", f"{naming.postgres_primary(env)}-data", "primary")
        self.original_primary: docker.Container | None = None
        if not promoted:
            self.original_primary = self._container(
                f"{name}-primary",
                args,
                image,
                naming.postgres_primary(env),
                role="primary",
                aliases=[naming.POSTGRES_PRIMARY_HOST],
                volume=primary_volume,
                command=["postgres", "-c", f"config_file={files.POSTGRESQL_CONF}"],
                envs=[
                    f"PGDATA={files.PGDATA}",
                    # Read by the entrypoint for initdb only; the init script then removes the
                    # superuser's password (it may log in over the local socket alone).
                    f"POSTGRES_PASSWORD_FILE={files.DATABASE_PASSWORD_FILE}",
                    f"POSTGRES_USER={files.SUPERUSER}",
                    "POSTGRES_INITDB_ARGS=--data-checksums --auth-local=peer --auth-host=scram-sha-256",
                ],
                uploads=[
                    *_rendered_uploads(artifacts.postgres_primary_files(settings, f"{name}-primary")),
                    secret_file(files.DATABASE_PASSWORD_FILE, args.database_password),
                    replication_password_upload,
                    secret_file(files.BACKUP_PASSWORD_FILE, args.backup_password),
                ],
                wait_timeout=300,
            )

        replicas: dict[int, docker.Container] = {}
        # The promoted replica first: the others depend on whichever server is the primary.
        order = sorted(range(1, pg.replicas + 1), key=lambda index: index != promoted)
        for index in order:
            container_name = naming.postgres_replica(env, index)
            volume = self._volume(f"{name}-replica-{index}-data", f"{container_name}-data", "replica")
            serving = replicas.get(promoted) or self.original_primary
            replicas[index] = self._container(
                f"{name}-replica-{index}",
                args,
                image,
                container_name,
                role="primary" if index == promoted else "replica",
                aliases=[files.replica_host(index), *([naming.POSTGRES_PRIMARY_HOST] if index == promoted else [])],
                volume=volume,
                # The image's entrypoint runs any command that is not `postgres` as it is.
                command=[files.REPLICA_SCRIPT],
                envs=[f"PGDATA={files.PGDATA}"],
                uploads=[
                    *_rendered_uploads(artifacts.postgres_replica_files(settings, index, f"{name}-replica-{index}")),
                    replication_password_upload,
                ],
                # A first start clones the whole primary before it accepts connections.
                wait_timeout=pg.replica_start_timeout_seconds,
                depends_on=[serving] if serving is not None and index != promoted else None,
            )
        self.replicas = [replicas[index] for index in sorted(replicas)]
        serving_primary = replicas[promoted] if promoted else self.original_primary
        if serving_primary is None:  # the settings guarantee 1 <= promotedReplica <= replicas
            raise ValueError(f"postgres.promotedReplica {promoted} names no replica")
        self.primary: docker.Container = serving_primary
        self.primary_name = naming.postgres_replica(env, promoted) if promoted else naming.postgres_primary(env)
        self.replica_names = [
            naming.postgres_replica(env, index) for index in range(1, pg.replicas + 1) if index != promoted
        ]
        self.register_outputs({"primary_name": self.primary_name, "replica_names": self.replica_names})

    def _volume(self, resource_name: str, volume_name: str, role: str) -> docker.Volume:
        settings = self._settings
        protect = settings.postgres.protect_volumes
        return docker.Volume(
            resource_name,
            name=volume_name,
            labels=[
                docker.VolumeLabelArgs(label="com.websys.environment", value=settings.environment),
                docker.VolumeLabelArgs(label="com.websys.service", value="postgres"),
                docker.VolumeLabelArgs(label="com.websys.role", value=role),
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )

    def _container(
        self,
        resource_name: str,
        args: PostgresArgs,
        image: docker.RemoteImage,
        container_name: str,
        *,
        role: str,
        aliases: list[str],
        volume: docker.Volume,
        command: list[str],
        envs: list[str],
        uploads: list[docker.ContainerUploadArgs],
        wait_timeout: int,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> docker.Container:
        settings = args.settings
        pg = settings.postgres
        labels = {
            "com.websys.environment": settings.environment,
            "com.websys.service": "postgres",
            "com.websys.role": role,
        }
        return docker.Container(
            resource_name,
            name=container_name,
            hostname=container_name,
            image=image.image_id,  # not .name: a name input recreates the container on every run
            user=pg.user,
            command=command,
            envs=envs,
            uploads=uploads,
            # Config files and secrets arrive as uploads, which Docker refuses on a read-only root
            # filesystem; the data itself is on the volume.
            read_only=False,
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=files.VOLUME_DIR)],
            shm_size=pg.shm_size_mb,
            **hardened(memory_mb=pg.memory_mb, logging=settings.logging, labels=labels),
            cpus=docker_cpus(pg.cpus),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=ready_probe(settings),
                interval="10s",
                timeout="5s",
                retries=5,
                # Failures while initdb runs or a replica clones do not count against it.
                start_period=go_duration(wait_timeout),
            ),
            wait=True,
            wait_timeout=wait_timeout,
            # A fast shutdown checkpoints; give it time rather than SIGKILL after Docker's 10 s.
            destroy_grace_seconds=60,
            stop_signal="SIGINT",
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=args.data_network, aliases=[container_name, *aliases])
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )


def _rendered_uploads(found: list[artifacts.Artifact]) -> list[docker.ContainerUploadArgs]:
    """The registry's files of one container (what `websys render` writes); secrets are added apart."""
    return [
        docker.ContainerUploadArgs(file=item.target, content=item.content, permissions=item.mode)
        for item in found
        if not item.secret
    ]
