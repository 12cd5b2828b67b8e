#!/bin/sh
# push-config.sh: delivers rendered files to a running service without replacing its container,
# then applies them with the service's apply script (nginx-apply.sh, prometheus-apply.sh) where
# the service runs: the script checks them with the service's own tool and reloads it.
# `pulumi up` runs it (a pulumi-command local.Command) with
#   WEBSYS_EXEC="docker exec -i <container>" (and DOCKER_HOST);
# the live tests run it with WEBSYS_EXEC="nsenter --target <pid> --mount --".
#
# Environment:
#   WEBSYS_SERVICE  the service's name, for messages (nginx, prometheus)
#   WEBSYS_EXEC     command prefix that runs a command where the service runs (word-split)
#   WEBSYS_APPLY    the text of the service's apply script
#   WEBSYS_FILES    one line per file, "VARIABLE MODE PATH": the variable VARIABLE holds the
#                   file's text, PATH is where it goes. The first line is the main configuration.
#                   Contents are never printed (a private key may be one of them).
#   WEBSYS_REFUSE   if set: why this push must not run; print it and change nothing
set -eu

service=${WEBSYS_SERVICE:-service}
if [ -n "${WEBSYS_REFUSE:-}" ]; then
  echo "push-config ($service): $WEBSYS_REFUSE" >&2
  exit 1
fi
: "${WEBSYS_EXEC:?}" "${WEBSYS_APPLY:?}" "${WEBSYS_FILES:?}"

where() {
  # shellcheck disable=SC2086 # the prefix is a command and its arguments
  $WEBSYS_EXEC "$@"
}

# stage PATH MODE: standard input becomes PATH.next (mode MODE) next to PATH.
stage() {
  # shellcheck disable=SC2016 # expanded by the inner shell, where the service runs
  where sh -c 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1.next" && chmod "$2" "$1.next"' stage "$1" "$2"
}

paths=""
is_set=""
while read -r variable mode path; do
  [ -n "$variable" ] || continue
  case $variable in
    [0-9]* | *[!A-Za-z0-9_]*) echo "push-config ($service): '$variable' is not a variable name" >&2; exit 2 ;;
  esac
  eval "is_set=\${$variable+yes}"
  if [ "$is_set" != yes ] || [ -z "$path" ]; then
    echo "push-config ($service): $variable (the text of ${path:-?}) is not set" >&2
    exit 2
  fi
  eval "printf '%s\n' \"\$$variable\"" | stage "$path" "$mode"
  paths="$paths $path"
done <<EOF
$WEBSYS_FILES
EOF

# shellcheck disable=SC2086 # paths contain no spaces
printf '%s\n' "$WEBSYS_APPLY" | where sh -s -- $paths
