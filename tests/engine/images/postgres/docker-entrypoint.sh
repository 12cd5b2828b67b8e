#!/bin/sh
# Look-alike entrypoint, written here from the official postgres image's documented interface
# (https://hub.docker.com/_/postgres: POSTGRES_PASSWORD[_FILE], POSTGRES_USER, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA, /docker-entrypoint-initdb.d, any --user).
# On an empty PGDATA it runs initdb, then a server on the unix socket only with the command's own
# options, creates POSTGRES_DB, runs the init scripts, stops that server and execs the command.
set -eu

if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi

# VAR or VAR_FILE (not both): the value, exported as VAR.
file_env() {
  eval "value=\${$1:-}" "file=\${$1_FILE:-}"
  if [ -n "$value" ] && [ -n "$file" ]; then
    echo "docker-entrypoint: both $1 and $1_FILE are set" >&2
    exit 1
  fi
  [ -z "$file" ] || value=$(cat "$file")
  export "$1=$value"
  unset "$1_FILE"
}

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_PASSWORD
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    echo "docker-entrypoint: the database is uninitialized and no superuser password is given: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2
    exit 1
  fi
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, split as the image does
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

  shift
  pg_ctl -D "$PGDATA" -w -o "$* -c listen_addresses= -p ${PGPORT:-5432}" start
  export PGPASSWORD="$POSTGRES_PASSWORD"
  psql_init() { psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password "$@"; }
  if [ "$POSTGRES_DB" != postgres ]; then
    psql_init --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    case $script in
      *.sh) if [ -x "$script" ]; then "$script"; else . "$script"; fi ;;
      *.sql) psql_init --dbname "$POSTGRES_DB" -f "$script" ;;
      *.sql.gz) gunzip -c "$script" | psql_init --dbname "$POSTGRES_DB" ;;
      *) [ ! -e "$script" ] || echo "docker-entrypoint: ignoring $script" >&2 ;;
    esac
  done
  unset PGPASSWORD
  pg_ctl -D "$PGDATA" -m fast -w stop
  set -- postgres "$@"
fi

exec "$@"
