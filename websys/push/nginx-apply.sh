#!/bin/sh
# nginx-apply.sh: runs where nginx runs (push-config.sh sends it). Puts the staged files in
# place, checks the whole configuration with `nginx -t`, and reloads. When the check fails it
# puts the previous files back, prints nginx's own message and exits 1: the running nginx never
# saw the new files and keeps serving the old configuration.
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
# The master's worker processes: children of the pid in the config's `pid` file.
pid_file=$(sed -n 's/^[[:space:]]*pid[[:space:]]\{1,\}\([^;]*\);.*/\1/p' "$config" | head -n 1)
master=$(cat "${pid_file:-/var/run/nginx.pid}" 2>/dev/null || true)
children() {
  for stat in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null < "$stat" || continue
    rest=${line##*) }
    set -f
    # shellcheck disable=SC2086 # split "state ppid ..." into fields
    set -- $rest
    set +f
    if [ "$2" = "$master" ]; then
      pid=${stat#/proc/}
      printf '%s ' "${pid%/stat}"
    fi
  done
}
before=$(children)

if ! output=$("$nginx_bin" -s reload -c "$config" 2>&1); then
  restore
  printf 'nginx-apply: the configuration passed nginx -t but nginx could not be signalled:\n%s\n' "$output" >&2
  exit 1
fi

# The reload has taken when the master has started a worker that was not there before; it then
# tells the old workers to finish their requests and stop accepting. A master that cannot apply
# the configuration (say, a port it cannot bind) keeps the old workers and logs why.
tries=0
while :; do
  for pid in $(children); do
    case " $before " in *" $pid "*) ;; *) echo "nginx-apply: $config checked and reloaded"; exit 0 ;; esac
  done
  tries=$((tries + 1))
  if [ "$tries" -ge 100 ]; then
    restore
    echo "nginx-apply: nginx did not apply the configuration within 10s (see its error log); the old one keeps serving" >&2
    exit 1
  fi
  sleep 0.1 2>/dev/null || sleep 1  # busybox without fractional sleep
done
