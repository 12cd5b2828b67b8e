#!/bin/sh
# push-nginx-config.sh: delivers a rendered nginx.conf, and the TLS certificate and key, to a
# running nginx without replacing it, then applies them with nginx-apply.sh where nginx runs.
# `pulumi up` runs it (a pulumi-command local.Command) with
#   WEBSYS_NGINX_EXEC="docker exec -i <container>" (and DOCKER_HOST);
# the live tests run it with WEBSYS_NGINX_EXEC="nsenter --target <nginx pid> --mount --".
#
# Environment:
#   WEBSYS_NGINX_EXEC          command prefix that runs a command where nginx runs (word-split)
#   WEBSYS_NGINX_APPLY         the text of nginx-apply.sh
#   WEBSYS_NGINX_CONFIG_PATH   WEBSYS_NGINX_CONFIG        where the configuration goes, and its text
#   WEBSYS_TLS_CERTIFICATE_PATH WEBSYS_TLS_CERTIFICATE    the certificate (PEM, with its chain)
#   WEBSYS_TLS_PRIVATE_KEY_PATH WEBSYS_TLS_PRIVATE_KEY    the private key (PEM; never printed)
#   WEBSYS_TLS_MISSING         if set: there is no certificate; print it and change nothing
set -eu

if [ -n "${WEBSYS_TLS_MISSING:-}" ]; then
  echo "push-nginx-config: $WEBSYS_TLS_MISSING" >&2
  exit 1
fi

: "${WEBSYS_NGINX_EXEC:?}" "${WEBSYS_NGINX_APPLY:?}"
: "${WEBSYS_NGINX_CONFIG_PATH:?}" "${WEBSYS_NGINX_CONFIG:?}"
: "${WEBSYS_TLS_CERTIFICATE_PATH:?}" "${WEBSYS_TLS_CERTIFICATE:?}"
: "${WEBSYS_TLS_PRIVATE_KEY_PATH:?}" "${WEBSYS_TLS_PRIVATE_KEY:?}"

where() {
  # shellcheck disable=SC2086 # the prefix is a command and its arguments
  $WEBSYS_NGINX_EXEC "$@"
}

# stage PATH MODE: standard input becomes PATH.next (mode MODE) next to PATH.
stage() {
  # shellcheck disable=SC2016 # expanded by the inner shell, where nginx runs
  where sh -c 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1.next" && chmod "$2" "$1.next"' stage "$1" "$2"
}

printf '%s\n' "$WEBSYS_NGINX_CONFIG" | stage "$WEBSYS_NGINX_CONFIG_PATH" 644
printf '%s\n' "$WEBSYS_TLS_CERTIFICATE" | stage "$WEBSYS_TLS_CERTIFICATE_PATH" 644
printf '%s\n' "$WEBSYS_TLS_PRIVATE_KEY" | stage "$WEBSYS_TLS_PRIVATE_KEY_PATH" 600
printf '%s\n' "$WEBSYS_NGINX_APPLY" | where sh -s -- \
  "$WEBSYS_NGINX_CONFIG_PATH" "$WEBSYS_TLS_CERTIFICATE_PATH" "$WEBSYS_TLS_PRIVATE_KEY_PATH"
