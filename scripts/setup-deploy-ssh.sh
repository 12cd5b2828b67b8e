#!/usr/bin/env bash
# Gives the Pulumi Docker provider SSH access to a stack's Docker host, from CI secrets.
# DEPLOY_SSH_KEY: a private key for the deploy user; DEPLOY_KNOWN_HOSTS: the host's key line(s).
set -euo pipefail
: "${DEPLOY_SSH_KEY:?DEPLOY_SSH_KEY is not set}"
: "${DEPLOY_KNOWN_HOSTS:?DEPLOY_KNOWN_HOSTS is not set (pin the host key; never disable checking)}"
umask 077
mkdir -p "$HOME/.ssh"
printf '%s\n' "$DEPLOY_SSH_KEY" > "$HOME/.ssh/id_ed25519"
printf '%s\n' "$DEPLOY_KNOWN_HOSTS" >> "$HOME/.ssh/known_hosts"
echo "SSH key and known hosts installed for the deploy user"
