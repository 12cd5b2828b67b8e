#!/usr/bin/env bash
# Runs a command (the test suite) with a real Docker Engine: installs Debian's docker.io and
# mmdebstrap when missing, uses a daemon that already answers, or starts one of its own (in its
# own network namespace, socket and data root; bounded start) and stops it when the command ends,
# also when it fails. See docs/real-engine.md.
#   usage: scripts/test-engine.sh COMMAND...
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  # Keep the package's own docker service from starting: the tests start their own daemon.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/venv/bin/python" -m tests.engine.daemon run -- "$@"
