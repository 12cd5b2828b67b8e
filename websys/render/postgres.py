"""postgresql.conf, pg_hba.conf, the primary's init script and the replica bootstrap script.

The files are the same on every server of a stack: a replica runs with the primary's
postgresql.conf (a hot standby needs settings at least as large as its primary's), and finds its
`primary_conninfo` and `primary_slot_name` in the `postgresql.auto.conf` that `pg_basebackup -R`
writes into its data directory.
"""

from __future__ import annotations

from websys import naming
from websys.settings import Settings

# Where the files live inside the containers of the official postgres image.
CONFIG_DIR = "/etc/postgresql"
POSTGRESQL_CONF = f"{CONFIG_DIR}/postgresql.conf"
PG_HBA_CONF = f"{CONFIG_DIR}/pg_hba.conf"
INIT_SCRIPT = "/docker-entrypoint-initdb.d/10-websys-init.sh"
REPLICA_SCRIPT = "/usr/local/bin/websys-replica-start.sh"
SECRETS_DIR = "/run/secrets"
DATABASE_PASSWORD_FILE = f"{SECRETS_DIR}/database-password"
REPLICATION_PASSWORD_FILE = f"{SECRETS_DIR}/replication-password"
BACKUP_PASSWORD_FILE = f"{SECRETS_DIR}/backup-password"
# The named volume is mounted at VOLUME_DIR; the cluster lives one level down, so a replica can
# clone into a sibling directory on the same volume and rename it into place when complete.
VOLUME_DIR = "/var/lib/postgresql/data"
PGDATA = f"{VOLUME_DIR}/pgdata"
SOCKET_DIR = "/var/run/postgresql"
# The only role that may log in over the socket: operators use `docker exec -u postgres ... psql`.
SUPERUSER = "postgres"


def backup_role(settings: Settings) -> str:
    """The backup job's role: it reads the application's data (pg_read_all_data) and creates and
    drops its own scratch databases for restore drills (CREATEDB); it owns nothing else, so it can
    neither write the application's data nor drop or rename its database."""
    return f"{settings.database.user[:56]}_backup"


def slot_name(index: int) -> str:
    """The physical replication slot of replica `index` (1-based)."""
    return f"websys_replica_{index}"


def replica_host(index: int) -> str:
    """The network alias of replica `index` on the data network."""
    return f"postgres-replica-{index}"


def render_postgresql_conf(settings: Settings) -> str:
    pg = settings.postgres
    lines = [
        f"# postgresql.conf of websys-{settings.environment}: rendered from Pulumi.{settings.environment}.yaml",
        "# (websys:postgres). Primary and replicas run the same file; do not edit it in a container.",
        "",
        "# Connections",
        "listen_addresses = '*'",
        f"port = {settings.database.port}",
        f"max_connections = {pg.max_connections}",
        f"unix_socket_directories = '{SOCKET_DIR}'",
        f"hba_file = '{PG_HBA_CONF}'",
        "password_encryption = 'scram-sha-256'",
        "ssl = off  # the data network is internal to the Docker host",
        "",
        "# Memory",
        f"shared_buffers = {pg.shared_buffers_mb}MB",
        f"effective_cache_size = {pg.effective_cache_size_mb}MB",
        f"work_mem = {pg.work_mem_mb}MB",
        f"maintenance_work_mem = {pg.maintenance_work_mem_mb}MB",
        "dynamic_shared_memory_type = posix",
        "",
        "# Write-ahead log and replication",
        "wal_level = replica",
        f"max_wal_size = {pg.max_wal_size_mb}MB",
        "min_wal_size = 80MB",
        f"max_wal_senders = {pg.max_wal_senders}",
        f"max_replication_slots = {pg.max_replication_slots}",
        "# A slot whose replica is gone holds WAL back only this far; then it is invalidated,",
        "# and the disk does not fill up.",
        f"max_slot_wal_keep_size = {pg.max_slot_wal_keep_size_mb}MB",
        f"wal_keep_size = {pg.wal_keep_size_mb}MB",
        "wal_log_hints = on  # lets pg_rewind turn a failed primary into a replica",
        "hot_standby = on",
        "hot_standby_feedback = on",
        "",
        "# Statements and logging (to stderr: Docker's json-file driver keeps and rotates the logs)",
        f"statement_timeout = {pg.statement_timeout_seconds * 1000}",
        "log_destination = 'stderr'",
        "logging_collector = off",
        f"log_min_duration_statement = {pg.log_min_duration_statement_ms}",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        "log_checkpoints = on",
        "log_lock_waits = on",
        "log_replication_commands = on",
        "log_timezone = 'UTC'",
        "timezone = 'UTC'",
        "",
    ]
    return "\n".join(lines)


def render_pg_hba(settings: Settings) -> str:
    """Who may connect: the application role to its database, the backup role and the replication
    role, all from the data network only and with SCRAM; the superuser over the local socket only.

    The backup role's line says `all` because its drills connect to scratch databases whose names
    are made at run time (PostgreSQL 15's pg_hba.conf has no name patterns); the CONNECT privilege
    then limits it to the application's database (granted), `postgres` (where CREATE and DROP
    DATABASE run) and the scratch databases it owns (each created with CONNECT revoked from PUBLIC)."""
    db = settings.database
    subnet = settings.data_network.subnet
    replication_user = settings.postgres.replication_user
    rows = [
        ("local", "all", SUPERUSER, "", "peer"),
        ("host", db.name, db.user, subnet, "scram-sha-256"),
        ("host", "all", backup_role(settings), subnet, "scram-sha-256"),
        ("host", "replication", replication_user, subnet, "scram-sha-256"),
    ]
    table = [("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD"), *rows]
    widths = [max(len(row[column]) for row in table) + 2 for column in range(4)]
    lines = [
        f"# pg_hba.conf of websys-{settings.environment}: rendered from Pulumi.{settings.environment}.yaml.",
        f"# Clients come from the data network ({subnet}); anything not listed is refused.",
        *("".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + row[4] for row in table),
    ]
    return "\n".join(lines) + "\n"


def render_primary_init(settings: Settings) -> str:
    """Run once by the official image's entrypoint (from /docker-entrypoint-initdb.d) when the
    primary's data directory is initialised: the application role and database, the backup job's
    role (see `backup_role`), the replication role, one physical slot per replica; then the
    superuser loses its password (socket only). A missing password file stops it (no role is
    ever created without its password).

    Passwords are read from files by psql itself (`\\set name `cat file``), so they appear in no
    command line or environment variable."""
    db = settings.database
    pg = settings.postgres
    backup = backup_role(settings)
    slots = "\n".join(
        f"SELECT pg_create_physical_replication_slot('{slot_name(index)}');" for index in range(1, pg.replicas + 1)
    )
    return f"""#!/bin/sh
# websys-{settings.environment}: initialise the PostgreSQL primary (run once, on an empty data directory).
set -eu
export WEBSYS_DATABASE_PASSWORD_FILE="${{WEBSYS_DATABASE_PASSWORD_FILE:-{DATABASE_PASSWORD_FILE}}}"
export WEBSYS_REPLICATION_PASSWORD_FILE="${{WEBSYS_REPLICATION_PASSWORD_FILE:-{REPLICATION_PASSWORD_FILE}}}"
export WEBSYS_BACKUP_PASSWORD_FILE="${{WEBSYS_BACKUP_PASSWORD_FILE:-{BACKUP_PASSWORD_FILE}}}"
for file in "$WEBSYS_DATABASE_PASSWORD_FILE" "$WEBSYS_REPLICATION_PASSWORD_FILE" "$WEBSYS_BACKUP_PASSWORD_FILE"; do
  [ -s "$file" ] || {{ echo "websys-init: $file is missing or empty" >&2; exit 1; }}
done

psql -X -v ON_ERROR_STOP=1 --no-password --username {SUPERUSER} --dbname postgres <<'SQL'
\\set app_password `cat "$WEBSYS_DATABASE_PASSWORD_FILE"`
\\set replication_password `cat "$WEBSYS_REPLICATION_PASSWORD_FILE"`
\\set backup_password `cat "$WEBSYS_BACKUP_PASSWORD_FILE"`
CREATE ROLE {db.user} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'app_password';
CREATE DATABASE {db.name} OWNER {db.user};
REVOKE ALL ON DATABASE {db.name} FROM PUBLIC;
-- The backup job: reads everything (pg_dump), creates and drops only its own scratch databases.
CREATE ROLE {backup} WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'backup_password';
GRANT pg_read_all_data TO {backup};
GRANT CONNECT ON DATABASE {db.name} TO {backup};
CREATE ROLE {pg.replication_user} WITH REPLICATION LOGIN PASSWORD :'replication_password';
{slots}
ALTER ROLE {SUPERUSER} PASSWORD NULL;
SQL
"""


def render_replica_bootstrap(settings: Settings, index: int) -> str:
    """The command of replica `index`: clone the primary into an empty data directory with
    `pg_basebackup -R -S <slot> -X stream` (creating the slot if the primary lacks it, as after a
    failover), then run the clone as a streaming standby. A data directory that exists is started
    as it is, so a restart never clones again and a promoted replica stays a primary.

    Container paths and the primary's address are defaults of environment variables, so the same
    script runs on loopback in the tests."""
    pg = settings.postgres
    return f"""#!/bin/sh
# websys-{settings.environment} PostgreSQL replica {index}: clone the primary once, then follow it.
set -eu

PGDATA="${{PGDATA:-{PGDATA}}}"
PRIMARY_HOST="${{PRIMARY_HOST:-{naming.POSTGRES_PRIMARY_HOST}}}"
PRIMARY_PORT="${{PRIMARY_PORT:-{settings.database.port}}}"
REPLICATION_USER='{pg.replication_user}'
SLOT='{slot_name(index)}'
REPLICATION_PASSWORD_FILE="${{REPLICATION_PASSWORD_FILE:-{REPLICATION_PASSWORD_FILE}}}"
PGPASSFILE="${{PGPASSFILE:-{SOCKET_DIR}/replication.pgpass}}"
POSTGRES_CONFIG_FILE="${{POSTGRES_CONFIG_FILE:-{POSTGRESQL_CONF}}}"
PRIMARY_WAIT_SECONDS="${{PRIMARY_WAIT_SECONDS:-300}}"
READY_USER='{settings.database.user}'
READY_DATABASE='{settings.database.name}'
export PGPASSFILE

log() {{ echo "websys-replica-{index}: $*" >&2; }}

# The password reaches libpq through a passfile (mode 0600, rewritten at every start), never a
# command line; primary_conninfo then names the passfile, so no password lands in the data directory.
umask 077
password=$(sed -e 's/\\\\/\\\\\\\\/g' -e 's/:/\\\\:/g' "$REPLICATION_PASSWORD_FILE")
printf '%s:%s:*:%s:%s\\n' "$PRIMARY_HOST" "$PRIMARY_PORT" "$REPLICATION_USER" "$password" > "$PGPASSFILE"
unset password

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -e "$PGDATA" ] && ! rmdir "$PGDATA" 2>/dev/null; then
    log "$PGDATA is not empty and holds no cluster; refusing to overwrite it"
    exit 1
  fi
  rm -rf "$PGDATA.partial"  # a clone that did not finish
  waited=0
  # As the application role to its database: a pg_hba.conf line, so the primary asks for a password
  # and pg_isready hangs up unlogged; any other user was a FATAL line per try (seen on a real engine).
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$READY_USER" -d "$READY_DATABASE"; do
    if [ "$waited" -ge "$PRIMARY_WAIT_SECONDS" ]; then
      log "the primary $PRIMARY_HOST:$PRIMARY_PORT did not answer within $PRIMARY_WAIT_SECONDS s"
      exit 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  slot_type=$(psql -X -A -t --no-password \\
    -d "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$REPLICATION_USER replication=true" \\
    -c "READ_REPLICATION_SLOT $SLOT" | cut -d '|' -f 1)
  create_slot=""
  if [ "$slot_type" != "physical" ]; then
    log "the primary has no slot $SLOT; pg_basebackup creates it"
    create_slot="--create-slot"
  fi
  log "cloning $PRIMARY_HOST:$PRIMARY_PORT through slot $SLOT"
  pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" --no-password \\
    -D "$PGDATA.partial" -R -S "$SLOT" $create_slot -X stream -c fast
  mv "$PGDATA.partial" "$PGDATA"
  log "clone complete"
fi

exec postgres -D "$PGDATA" -c config_file="$POSTGRES_CONFIG_FILE" "$@"
"""


def pg_isready_command(settings: Settings, port: int | None = None) -> list[str]:
    """The containers' healthcheck: ready once the server accepts TCP connections (an init
    server on the socket alone does not count). It needs no password."""
    return ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port or settings.database.port)]
