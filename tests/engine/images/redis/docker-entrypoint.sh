#!/bin/sh
# Look-alike entrypoint, written here from the official redis image's documented behaviour
# (https://hub.docker.com/_/redis): options or a .conf file as the first argument run redis-server
# with them; started as root, redis-server drops to the redis user; files are private (umask 0077).
set -eu
case ${1:-} in
  -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
