"""PostgreSQL access for the backup commands: connection parameters, client binaries, SQL helpers.

The password never appears on a command line: pg_dump and pg_restore get the connection through
libpq's PG* environment variables, built from the `--database-url`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from websys.backup.errors import EXIT_BAD_INPUT, BackupError

# libpq connection keywords and the environment variables pg_dump and pg_restore read them from.
_ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
}


@dataclass(frozen=True)
class Database:
    """A server (from a database URL) and the database on it that the command is about."""

    params: dict[str, str]
    name: str

    @classmethod
    def from_url(cls, url: str) -> Database:
        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise BackupError(
                f"--database-url: not a PostgreSQL URL (postgresql://user:password@host:port/database): "
                f"{_without_quotes(str(error).splitlines()[0])}",
                EXIT_BAD_INPUT,
            ) from None
        name = str(params.pop("dbname", "") or "")
        if not name:
            raise BackupError(
                "--database-url: names no database (postgresql://user@host:port/DATABASE)", EXIT_BAD_INPUT
            )
        unknown = sorted(set(params) - set(_ENVIRONMENT))
        if unknown:
            raise BackupError(f"--database-url: unsupported parameter {unknown[0]!r}", EXIT_BAD_INPUT)
        return cls({key: str(value) for key, value in params.items() if value is not None}, name)

    def environment(self, database: str | None = None) -> dict[str, str]:
        """The environment for a client binary connecting to `database` (default: this one)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update({_ENVIRONMENT[key]: value for key, value in self.params.items()})
        env["PGDATABASE"] = database or self.name
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        return env

    def connect(self, database: str | None = None, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            conninfo = psycopg.conninfo.make_conninfo("", **{"connect_timeout": "10", **self.params})
            return psycopg.connect(conninfo, dbname=database or self.name, autocommit=autocommit)
        except psycopg.OperationalError as error:
            where = f"{self.params.get('host', 'localhost')}:{self.params.get('port', '5432')}"
            reason = " ".join(str(error).split())
            raise BackupError(
                f"cannot connect to database {database or self.name!r} at {where}: {reason}", EXIT_BAD_INPUT
            ) from None

    @contextmanager
    def maintenance(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection to the `postgres` database, for CREATE, DROP and RENAME DATABASE."""
        with self.connect("postgres") as connection:
            yield connection


def _without_quotes(message: str) -> str:
    """libpq quotes the part of the URL it could not parse, which may be the password: drop it."""
    return re.sub(r'"[^"]*("|$)', '"..."', message)


def find_binary(name: str) -> str:
    """A PostgreSQL client binary: $WEBSYS_PG_BINDIR, then PATH, then Debian's versioned directories."""
    bindir = os.environ.get("WEBSYS_PG_BINDIR")
    if bindir:
        candidate = Path(bindir) / name
        if candidate.is_file():
            return str(candidate)
        raise BackupError(f"WEBSYS_PG_BINDIR={bindir}: no {name} there", EXIT_BAD_INPUT)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]), reverse=True)
    if versions:
        return str(versions[0])
    raise BackupError(f"{name} not found: install the PostgreSQL client (postgresql-client-15)", EXIT_BAD_INPUT)


def database_exists(connection: psycopg.Connection[Any], name: str) -> bool:
    row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


# Every database a restore or a drill builds carries this comment until it is complete: one left
# behind by a killed run is found by it (and by its name) and reported by the next run.
SCRATCH_COMMENT = "websys: incomplete"


def create_database(
    connection: psycopg.Connection[Any], name: str, encoding: str, owner: str | None, purpose: str
) -> None:
    """A new, empty database marked incomplete; only its owner (and superusers) may connect."""
    ident = sql.Identifier
    owner_clause = sql.SQL(" OWNER {}").format(ident(owner)) if owner else sql.SQL("")
    connection.execute(
        sql.SQL("CREATE DATABASE {}{} TEMPLATE template0 ENCODING {}").format(
            ident(name), owner_clause, sql.Literal(encoding)
        )
    )
    connection.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident(name)))
    connection.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident(name), sql.Literal(f"{SCRATCH_COMMENT}: {purpose}"))
    )


def leftover_databases(connection: psycopg.Connection[Any], database: str) -> list[tuple[str, str]]:
    """(name, comment) of the databases an interrupted restore or drill of `database` left behind."""
    rows = connection.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE shobj_description(oid, 'pg_database') LIKE %s ORDER BY 1",
        [SCRATCH_COMMENT + "%"],
    ).fetchall()
    return [(str(name), str(comment)) for name, comment in rows if str(comment).find(f"of {database!r}") >= 0]


def rename_complete(connection: psycopg.Connection[Any], scratch: str, target: str) -> None:
    """The finished scratch database takes its final name, and loses its mark, in one transaction."""
    ident = sql.Identifier
    with connection.transaction():
        connection.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(scratch), ident(target)))
        connection.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(ident(target)))


def can_act_as(connection: psycopg.Connection[Any], role: str) -> bool:
    """Whether the connected role may create objects owned by `role` (it is `role`, a member, or superuser)."""
    row = connection.execute(
        "SELECT rolsuper OR pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles WHERE rolname = current_user",
        [role],
    ).fetchone()
    return bool(row and row[0])


def can_replace(connection: psycopg.Connection[Any], database: str) -> bool:
    """Renaming a database takes its ownership (or membership in its owner) and CREATEDB."""
    row = connection.execute(
        "SELECT r.rolsuper OR (r.rolcreatedb AND pg_has_role(current_user, d.datdba, 'MEMBER')) "
        "FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = %s",
        [database],
    ).fetchone()
    return bool(row and row[0])


def database_owner(connection: psycopg.Connection[Any], name: str) -> str:
    """Who owns database `name`, or the connected role if it does not exist."""
    row = connection.execute(
        "SELECT coalesce((SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s), current_user)", [name]
    ).fetchone()
    return str(row[0]) if row else ""


def current_role(connection: psycopg.Connection[Any]) -> str:
    row = connection.execute("SELECT current_user").fetchone()
    return str(row[0]) if row else ""


def drop_database(connection: psycopg.Connection[Any], name: str) -> None:
    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def copy_database_privileges(connection: psycopg.Connection[Any], source: str, target: str) -> None:
    """Give `target` the database-level grants of `source` (CONNECT for the backup role, ...), so a
    database swapped in keeps who may connect to it."""
    rows = connection.execute(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END "
        "FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s AND a.grantee <> d.datdba",
        [source],
    ).fetchall()
    for privilege, grantee in rows:
        connection.execute(
            sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                sql.SQL(str(privilege)),
                sql.Identifier(target),
                sql.Identifier(grantee) if grantee else sql.SQL("PUBLIC"),
            )
        )


def swap_databases(connection: psycopg.Connection[Any], live: str, replacement: str, keep_as: str) -> None:
    """Put `replacement` in place of `live` and keep the old one as `keep_as` (no connections allowed)."""
    ident = sql.Identifier
    copy_database_privileges(connection, live, replacement)
    connection.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(ident(live)))
    try:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [live],
        )
        with connection.transaction():
            connection.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(live), ident(keep_as)))
            connection.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(replacement), ident(live)))
            connection.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(ident(live)))
    except BaseException:
        connection.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(ident(live)))
        raise


# Tables whose rows pg_dump writes: ordinary and partition tables, not catalogs, not extension members.
_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1, 2
"""


def row_counts(connection: psycopg.Connection[Any]) -> dict[str, int]:
    """`schema.table` -> number of rows, as the connection's snapshot sees them."""
    counts: dict[str, int] = {}
    for schema, table in connection.execute(_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        row = connection.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts
