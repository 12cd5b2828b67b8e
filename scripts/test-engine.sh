#!/usr/bin/env bash
# Runs a command (the test suite) with a real Docker Engine: installs Debian's docker.io and
# mmdebstrap when missing (scripts/install-system-packages.sh), uses a daemon that already answers,
# or starts one of its own (in its own network namespace, socket and data root; bounded start) and
# stops it when the command ends, also when it fails. See docs/real-engine.md.
#   usage: scripts/test-engine.sh COMMAND...
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-system-packages.sh"  # docker.io and mmdebstrap among them, when missing
exec "$here/venv/bin/python" -m tests.engine.daemon run -- "$@"
