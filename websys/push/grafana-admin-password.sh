#!/bin/sh
# grafana-admin-password.sh: makes Grafana's admin password the one the stack says.
#
# GF_SECURITY_ADMIN_PASSWORD sets the password only when Grafana creates its database
# (/var/lib/grafana/grafana.db, on a volume that outlives the container), so a rotated password
# would not take effect by itself. `pulumi up` runs this script (a pulumi-command local.Command)
# after the Grafana container is created and whenever the password changes. It waits, bounded,
# for Grafana's /api/health inside the container (the database is migrated and answers), then
# resets the admin password with Grafana's own CLI, the password on its standard input:
#   grafana cli --homepath /usr/share/grafana admin reset-admin-password --password-from-stdin
# (grafana/grafana pkg/cmd/grafana-cli/commands/commands.go, `adminCommands`: the
# `password-from-stdin` flag, in Grafana since 7.2.0, CHANGELOG, PR #26016;
# reset_password_command.go `resetPasswordCommand` reads the first line of stdin; the `cli`
# subcommand of the `grafana` binary: pkg/cmd/grafana/main.go, grafana-cli/commands/cli.go).
# The password is never in an argument list (printf is the shell's builtin) and never printed.
#
# Environment:
#   WEBSYS_EXEC                    command prefix that runs a command in the Grafana container
#                                  (word-split): "docker exec -i <container>" (and DOCKER_HOST)
#   WEBSYS_GRAFANA_HEALTH_URL      Grafana's health endpoint as seen inside the container
#   WEBSYS_GRAFANA_ADMIN_PASSWORD  the password (a Pulumi secret)
#   WEBSYS_GRAFANA_HOME            Grafana's home path in the container (default /usr/share/grafana)
#   WEBSYS_GRAFANA_WAIT_SECONDS    how long to wait for /api/health (default 120)
set -eu

: "${WEBSYS_EXEC:?}" "${WEBSYS_GRAFANA_HEALTH_URL:?}"
if [ -z "${WEBSYS_GRAFANA_ADMIN_PASSWORD:-}" ]; then
  echo "grafana-admin-password: WEBSYS_GRAFANA_ADMIN_PASSWORD is not set; the admin password is unchanged" >&2
  exit 2
fi
home=${WEBSYS_GRAFANA_HOME:-/usr/share/grafana}
wait_seconds=${WEBSYS_GRAFANA_WAIT_SECONDS:-120}
url=$WEBSYS_GRAFANA_HEALTH_URL

where() {
  # shellcheck disable=SC2086 # the prefix is a command and its arguments
  $WEBSYS_EXEC "$@"
}

# /api/health answers 200 once the database is migrated and reachable (503 otherwise); busybox
# wget, which the image's own healthcheck uses, fails on anything but a success.
waited=0
until where wget -q -O /dev/null "$url" </dev/null >/dev/null 2>&1; do
  waited=$((waited + 1))
  if [ "$waited" -ge "$wait_seconds" ]; then
    echo "grafana-admin-password: Grafana did not answer $url within ${wait_seconds}s; the admin password is unchanged" >&2
    exit 1
  fi
  sleep 1
done

# Grafana's CLI prints a prompt and its verdict, never the password it read.
if ! output=$(printf '%s\n' "$WEBSYS_GRAFANA_ADMIN_PASSWORD" \
  | where grafana cli --homepath "$home" admin reset-admin-password --password-from-stdin 2>&1); then
  printf 'grafana-admin-password: grafana cli did not reset the admin password; Grafana keeps the old one:\n%s\n' \
    "$output" >&2
  exit 1
fi
echo "grafana-admin-password: the admin password is the stack's"
