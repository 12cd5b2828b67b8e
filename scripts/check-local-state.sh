#!/usr/bin/env bash
# Before `make up` creates a stack's state in this folder (the default file backend, .state/): if the
# stack's containers run on another machine (websys:docker.host is ssh:// or tcp://), that state is
# the only record of them, on this laptop alone. Say so, and go on only when the operator agrees.
# Usage: check-local-state.sh STACK PYTHON
set -euo pipefail
stack=$1 python=$2
backend=${PULUMI_BACKEND_URL:-}
[[ $backend == file://* ]] || exit 0
state_dir=${backend#file://}
for existing in "$state_dir/.pulumi/stacks/websys/$stack.json" "$state_dir/.pulumi/stacks/$stack.json"; do
  [[ -e $existing ]] && exit 0  # the stack's state exists already: nothing new is created
done
host=$("$python" - "Pulumi.$stack.yaml" <<'PY'
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as file:
    config = (yaml.safe_load(file) or {}).get("config") or {}
print((config.get("websys:docker") or {}).get("host", ""))
PY
)
case $host in
  ssh://* | tcp://*) ;;
  *) exit 0 ;;
esac
cat >&2 <<MSG
make up: stack '$stack' runs its containers on $host, but its Pulumi state would be created in
  $state_dir on this machine only. Nobody else (another operator, CI) could see or update the stack,
  and losing this folder leaves its containers and volumes unmanaged. Use a shared backend instead:
  PULUMI_BACKEND_URL=s3://<bucket> (or https://api.pulumi.com) make up STACK=$stack
MSG
if [[ ${WEBSYS_LOCAL_STATE:-} == yes ]]; then
  echo "make up: WEBSYS_LOCAL_STATE=yes: creating local state anyway." >&2
  exit 0
fi
if [[ -t 0 ]]; then
  read -r -p "Create the state here anyway? [y/N] " answer
  [[ $answer == [yY] || $answer == [yY][eE][sS] ]] && exit 0
fi
echo "make up: stopped; set WEBSYS_LOCAL_STATE=yes to create local state without asking." >&2
exit 1
