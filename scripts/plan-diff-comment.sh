#!/usr/bin/env bash
# Markdown for the pull-request comment: each stack's recorded plan at BASE (its committed
# snapshot, plans/<stack>.json) against the plan of this checkout. Needs no engine or credentials.
set -euo pipefail
base="${1:?usage: plan-diff-comment.sh BASE_REF}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stacks=(development staging production)
# Three stacks share one comment of at most 65,536 characters.
per_stack=$(( (65536 - 600) / ${#stacks[@]} ))

echo "## Infrastructure plan diff"
echo
echo "Recorded plans of \`$base\` against this pull request (\`websys plan\`, \`websys diff\`; secrets are \`[secret]\`)."
echo
for stack in "${stacks[@]}"; do
  venv/bin/websys plan "$stack" --json --out "$work/after.json" >/dev/null
  if git show "$base:plans/$stack.json" > "$work/before.json" 2>/dev/null; then
    venv/bin/websys diff --max-chars "$per_stack" "$work/before.json" "$work/after.json"
  else
    echo "### Plan diff: \`websys/$stack\`"
    echo
    echo "No snapshot on the base branch: the whole stack is new."
  fi
  echo
done
