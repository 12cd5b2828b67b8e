#!/bin/sh
# nginx-apply.sh: runs where nginx runs. Puts the staged files in place, checks the whole
# configuration with `nginx -t`, and reloads. When the check fails it puts the previous files
# back, prints nginx's own message and exits 1: the running nginx never saw the new files and
# keeps serving the old configuration.
#
# usage: nginx-apply.sh CONFIG [FILE...]
#   For each path P (CONFIG first) with a staged P.next, P.next replaces P (P.previous keeps the
#   replaced file, for a manual rollback). Paths must not contain spaces.
#   NGINX (default: nginx) names the nginx binary.
set -eu

nginx_bin=${NGINX:-nginx}
config=$1
lock="$config.apply-lock"
if ! mkdir "$lock" 2>/dev/null; then
  echo "nginx-apply: another apply holds $lock; remove it if no apply is running" >&2
  exit 1
fi
trap 'rmdir "$lock"' EXIT

installed=""
restore() {
  for path in $installed; do
    if [ -e "$path.previous" ]; then mv -f "$path.previous" "$path"; else rm -f "$path"; fi
  done
}

for path in "$@"; do
  [ -e "$path.next" ] || continue
  if [ -e "$path" ]; then cp -p "$path" "$path.previous"; else rm -f "$path.previous"; fi
  mv -f "$path.next" "$path"
  installed="$installed $path"
done

if ! output=$("$nginx_bin" -t -q -c "$config" 2>&1); then
  restore
  printf 'nginx-apply: nginx -t refused the new configuration; the running one keeps serving:\n%s\n' "$output" >&2
  exit 1
fi
if ! output=$("$nginx_bin" -s reload -c "$config" 2>&1); then
  printf 'nginx-apply: the configuration passed nginx -t but the reload signal failed:\n%s\n' "$output" >&2
  exit 1
fi
echo "nginx-apply: $config checked and reloaded"
