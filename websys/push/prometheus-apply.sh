#!/bin/sh
# prometheus-apply.sh: runs where Prometheus runs. Checks the configuration as it would be with
# the staged files (`promtool check config` on a scratch copy of the configuration directory,
# which also checks the rule files it names), then moves them in place and makes Prometheus
# reload (SIGHUP). When promtool refuses, nothing is moved: Prometheus keeps its files and its
# running configuration, promtool's own message is printed and the script exits 1.
#
# usage: prometheus-apply.sh CONFIG [FILE...]
#   Every path lies under CONFIG's directory; for each with a staged P.next, P.next replaces P
#   (P.previous keeps the replaced file, for a manual rollback). Paths must not contain spaces.
#   PROMTOOL (default: promtool), PROMETHEUS_PID (default: 1, the container's Prometheus) and
#   PROMETHEUS_URL (default: http://127.0.0.1:9090) say where Prometheus is.
set -eu

promtool=${PROMTOOL:-promtool}
pid=${PROMETHEUS_PID:-1}
url=${PROMETHEUS_URL:-http://127.0.0.1:9090}
config=$1
dir=$(dirname "$config")
lock="$config.apply-lock"
if ! mkdir "$lock" 2>/dev/null; then
  echo "prometheus-apply: another apply holds $lock; remove it if no apply is running" >&2
  exit 1
fi
scratch=""
trap 'rmdir "$lock"; [ -z "$scratch" ] || rm -rf "$scratch"' EXIT

# metric NAME: its value in Prometheus's own /metrics (busybox wget in the image; curl elsewhere).
metric() {
  if command -v wget >/dev/null 2>&1; then
    body=$(wget -q -O - "$url/metrics") || return 1
  else
    body=$(curl -fsS "$url/metrics") || return 1
  fi
  printf '%s\n' "$body" | sed -n "s/^$1 //p"
}
stamp() { metric prometheus_config_last_reload_success_timestamp_seconds; }

if ! before=$(stamp) || [ -z "$before" ]; then
  echo "prometheus-apply: cannot read Prometheus's reload status at $url/metrics; nothing changed" >&2
  exit 1
fi
was_ok=$(metric prometheus_config_last_reload_successful || true)

# The directory as it will be: a copy, with every staged file in place of the one it replaces.
scratch=$(mktemp -d)
cp -R "$dir/." "$scratch/"
for path in "$@"; do
  case $path in
    "$dir"/*) ;;
    *) echo "prometheus-apply: $path is not under $dir" >&2; exit 1 ;;
  esac
  [ -e "$path.next" ] || continue
  relative=${path#"$dir"/}
  mkdir -p "$(dirname "$scratch/$relative")"
  cp "$path.next" "$scratch/$relative"
done
if ! output=$("$promtool" check config "$scratch/$(basename "$config")" 2>&1); then
  for path in "$@"; do rm -f "$path.next"; done
  printf 'prometheus-apply: promtool refused the new configuration; Prometheus keeps the running one:\n%s\n' \
    "$(printf '%s\n' "$output" | sed "s|$scratch|$dir|g")" >&2
  exit 1
fi

installed=""
for path in "$@"; do
  [ -e "$path.next" ] || continue
  if [ -e "$path" ]; then cp "$path" "$path.previous"; else rm -f "$path.previous"; fi
  mv -f "$path.next" "$path"
  installed="$installed $path"
done

restore() {
  for path in $installed; do
    if [ -e "$path.previous" ]; then mv -f "$path.previous" "$path"; else rm -f "$path"; fi
  done
  kill -HUP "$pid" 2>/dev/null || true  # back to the files of the configuration it still runs
}

if ! kill -HUP "$pid"; then
  restore
  echo "prometheus-apply: could not signal Prometheus (pid $pid); the old configuration keeps running" >&2
  exit 1
fi
# The reload has taken when Prometheus records a newer successful reload; a reload it refuses
# sets prometheus_config_last_reload_successful to 0 and keeps the old configuration running.
tries=0
while :; do
  now=$(stamp || true)
  if [ -n "$now" ] && [ "$now" != "$before" ]; then
    echo "prometheus-apply: $config checked and reloaded"
    exit 0
  fi
  if [ "$was_ok" = 1 ] && [ "$(metric prometheus_config_last_reload_successful || true)" = 0 ]; then
    restore
    echo "prometheus-apply: Prometheus refused the configuration promtool accepted (see its log); the old one keeps running" >&2
    exit 1
  fi
  tries=$((tries + 1))
  if [ "$tries" -ge 100 ]; then
    restore
    echo "prometheus-apply: Prometheus did not reload within 10s (see its log); the old configuration keeps running" >&2
    exit 1
  fi
  sleep 0.1 2>/dev/null || sleep 1  # busybox without fractional sleep
done
