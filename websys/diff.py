"""Markdown for a pull request: what changes between two recorded plans, data-holding resources first.

Pure: two plan documents (the `websys plan --json` form) in, Markdown out.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# A GitHub comment holds at most 65,536 characters.
COMMENT_LIMIT = 65_536
VALUE_LIMIT = 160
TEXT_DIFF_LINES = 60  # per changed file

# Resources whose replacement or removal loses data.
STATEFUL_TYPES = frozenset(
    {
        "docker:index/volume:Volume",
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
    }
)
# Containers that hold data in their volumes: replacing them is an outage of the data service.
STATEFUL_CONTAINER_MARKERS = ("-postgres-primary", "-postgres-replica-", "-redis")


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any


@dataclass
class ResourceDiff:
    urn: str
    name: str
    type: str
    stateful: bool
    changes: list[Change] = field(default_factory=list)
    action: str = ""  # update / replace (delete first) / replace (create first), from websys.plan.replacements


@dataclass
class PlanDiff:
    title: str
    added: list[ResourceDiff]
    removed: list[ResourceDiff]
    changed: list[ResourceDiff]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def is_stateful(resource: dict[str, Any]) -> bool:
    if resource.get("type") in STATEFUL_TYPES:
        return True
    # Containers, and on platform swarm the data services (their volumes stay on their node).
    if resource.get("type") in ("docker:index/container:Container", "docker:index/service:Service"):
        name = str(resource.get("inputs", {}).get("name", ""))
        return any(marker in name for marker in STATEFUL_CONTAINER_MARKERS)
    return False


def diff_plans(before: dict[str, Any], after: dict[str, Any]) -> PlanDiff:
    old = {r["urn"]: r for r in before.get("resources", [])}
    new = {r["urn"]: r for r in after.get("resources", [])}

    def entry(resource: dict[str, Any]) -> ResourceDiff:
        return ResourceDiff(resource["urn"], resource["name"], resource["type"], is_stateful(resource))

    from websys.plan.replacements import classify  # noqa: PLC0415 the mocks it needs load only here

    outcomes = classify(before, after)
    changed = []
    for urn in sorted(old.keys() & new.keys()):
        changes = list(_changes(_comparable(old[urn]), _comparable(new[urn]), ""))
        if changes:
            item = entry(new[urn])
            item.stateful = item.stateful or is_stateful(old[urn])
            item.changes = changes
            item.action = outcomes[urn].action if urn in outcomes else "update"
            changed.append(item)
    title = f"{after.get('project', before.get('project', ''))}/{after.get('stack', before.get('stack', ''))}"
    return PlanDiff(
        title=title,
        added=[entry(new[urn]) for urn in sorted(new.keys() - old.keys())],
        removed=[entry(old[urn]) for urn in sorted(old.keys() - new.keys())],
        changed=changed,
    )


def _comparable(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: resource.get(key) for key in ("inputs", "options", "parent", "provider", "dependencies")}


def _changes(before: Any, after: Any, path: str) -> Iterator[Change]:
    if path == "dependencies" and isinstance(before, list) and isinstance(after, list):
        # A set of URNs: show which were dropped and which were added, by resource name.
        dropped, added = sorted(set(before) - set(after)), sorted(set(after) - set(before))
        if dropped or added:
            yield Change(path, [urn.rsplit("::", 1)[-1] for urn in dropped], [urn.rsplit("::", 1)[-1] for urn in added])
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            child = f"{path}.{key}" if path else str(key)
            yield from _changes(before.get(key, _MISSING), after.get(key, _MISSING), child)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _changes(old, new, f"{path}[{index}]")
    elif isinstance(before, list) and isinstance(after, list):
        # A list that grew or shrank: what was removed and what was added, not the whole list twice.
        removed = [item for item in before if item not in after]
        added = [item for item in after if item not in before]
        yield Change(path, {"removed": removed}, {"added": added})
    elif before != after:
        yield Change(path, before, after)


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING = _Missing()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "*(absent)*"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) > VALUE_LIMIT:
        text = f"{text[: VALUE_LIMIT - 1]}…"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _text_diff(change: Change) -> list[str]:
    """Rendered files (nginx.conf, prometheus.yml, ...) changed: the changed lines, as a diff block."""
    if not (isinstance(change.before, str) and isinstance(change.after, str) and "\n" in change.after):
        return []
    lines = list(difflib.unified_diff(change.before.splitlines(), change.after.splitlines(), lineterm="", n=1))[
        2:
    ]  # without the ---/+++ header
    if len(lines) > TEXT_DIFF_LINES:
        lines = [*lines[:TEXT_DIFF_LINES], f"... {len(lines) - TEXT_DIFF_LINES} more diff lines"]
    return ["", f"  `{change.path}`:", "", "  ```diff", *(f"  {line}" for line in lines), "  ```"]


def _line(item: ResourceDiff) -> str:
    flag = " ⚠️ **holds data**" if item.stateful else ""
    action = f" — **{item.action}**" if item.action else ""
    return f"- `{item.name}` ({item.type}){action}{flag}"


def render_markdown(diff: PlanDiff, limit: int = COMMENT_LIMIT) -> str:
    """The diff as Markdown no longer than `limit`; what does not fit is named in a closing note."""
    counts = f"**{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed**"
    head = [f"### Plan diff: `{diff.title}`", "", counts, ""]
    if diff.empty:
        return "\n".join([*head[:2], "No changes.", ""])
    danger = [r for r in diff.removed if r.stateful] + [r for r in diff.changed if r.stateful]
    if danger:
        head.append("> [!CAUTION]")
        head.append("> Resources that hold data are removed or changed; check for data loss before merging:")
        head.extend(f"> - `{r.name}` ({r.type}): {'removed' if r in diff.removed else 'changed'}" for r in danger)
        head.append("")
    # Each block: its lines and how many resources it describes (headings describe none).
    blocks: list[tuple[list[str], int]] = []
    for heading, items in (("Removed", diff.removed), ("Added", diff.added)):
        if items:
            blocks.append(([f"#### {heading}"], 0))
            blocks.extend(([_line(item)], 1) for item in items)
            blocks.append(([""], 0))
    if diff.changed:
        blocks.append((["#### Changed", ""], 0))
        for item in diff.changed:
            rows = [_line(item), "", "  | property | before | after |", "  |---|---|---|"]
            rows += [f"  | `{c.path}` | {_show(c.before)} | {_show(c.after)} |" for c in item.changes]
            for change in item.changes:
                rows += _text_diff(change)
            blocks.append(([*rows, ""], 1))
    out = "\n".join(head) + "\n"
    for index, (lines, _count) in enumerate(blocks):
        text = "\n".join(lines) + "\n"
        left_out = sum(count for _, count in blocks[index:])
        note = (
            f"\n*Trimmed to fit a GitHub comment ({limit:,} characters): {left_out} more resource(s) left out. "
            "Run `websys diff BEFORE.json AFTER.json` locally for the whole diff.*\n"
        )
        if len(out) + len(text) + len(note) > limit:
            return out + note
        out += text
    return out
