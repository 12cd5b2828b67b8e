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
  # The kernel's list of the master's children where it keeps one (CONFIG_PROC_CHILDREN), else a scan.
  if [ -r "/proc/$master/task/$master/children" ]; then
    cat "/proc/$master/task/$master/children"
    return
  fi
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

# nginx's master, on reload (ngx_master_process_cycle in src/os/unix/ngx_process_cycle.c), starts
# the new workers, sleeps 100 ms, and only then sends the old ones QUIT; until each old worker has
# handled it, old and new workers both accept, so returning when a new worker exists would let
# requests reach the old configuration after the push returned. An old worker that handles QUIT
# sets its title to "nginx: worker process is shutting down" and closes its listening sockets in
# the same step (ngx_worker_process_cycle), so the switch is complete when every worker that ran
# before the reload has that title or has exited. Then the old workers finish the requests they
# hold; the push waits for that too (at most WEBSYS_NGINX_DRAIN_SECONDS, default 30), so the old
# upstreams may be stopped as soon as it returns. A master that cannot apply the configuration (a
# port it cannot bind) starts no new worker, keeps the old ones and logs why.
now_ms() {
  read -r up _ < /proc/uptime  # "seconds.centiseconds"; portable where nginx runs (Linux)
  echo $(( ${up%.*} * 1000 + 1${up#*.} * 10 - 1000 ))
}
title() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null || true; }
# old_workers STATE: the pre-reload workers still running and, with STATE=accepting, not yet
# shutting down.
old_workers() {
  now=" $(children) "
  for pid in $before; do
    case $now in *" $pid "*) ;; *) continue ;; esac
    if [ "$1" = accepting ]; then
      case $(title "$pid") in *"shutting down"*) continue ;; esac
    fi
    printf '%s ' "$pid"
  done
}
pause() { sleep 0.02 2>/dev/null || sleep 1; }  # busybox without fractional sleep
started=$(now_ms)
deadline=$((started + 10000))
while :; do
  new=""
  for pid in $(children); do
    case " $before " in *" $pid "*) ;; *) new=yes ;; esac
  done
  [ -z "$new" ] || break
  if [ "$(now_ms)" -ge "$deadline" ]; then
    restore
    echo "nginx-apply: nginx did not apply the configuration within 10s (see its error log); the old one keeps serving" >&2
    exit 1
  fi
  pause
done
while [ -n "$(old_workers accepting)" ]; do
  if [ "$(now_ms)" -ge "$deadline" ]; then
    echo "nginx-apply: nginx started workers with the new configuration, but old workers ($(old_workers accepting)) still accept after 10s (see its error log)" >&2
    exit 1
  fi
  pause
done
switched=$(now_ms)
drain_deadline=$((switched + ${WEBSYS_NGINX_DRAIN_SECONDS:-30} * 1000))
while [ -n "$(old_workers running)" ] && [ "$(now_ms)" -lt "$drain_deadline" ]; do
  pause
done
finished=$(now_ms)
left=$(old_workers running)
if [ -n "$left" ]; then
  drained="old workers ($left) are still finishing requests after $((finished - switched)) ms: stop the old upstreams once they exit"
else
  drained="old workers finished their requests after $((finished - started)) ms"
fi
echo "nginx-apply: $config checked and reloaded; every new request is served by the new configuration after $((switched - started)) ms; $drained"
