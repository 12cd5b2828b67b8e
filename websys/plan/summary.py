"""The readable form of a plan: resources by component and type."""

from __future__ import annotations

from collections import Counter

from websys.plan.model import Plan


def summarize(plan: Plan) -> str:
    stack_urn = next((r.urn for r in plan.resources if r.type == "pulumi:pulumi:Stack"), "")
    by_urn = {resource.urn: resource for resource in plan.resources}

    def top_level(urn: str) -> str:
        # Walk up to the child of the stack: the component (or lone resource) it belongs to.
        while urn in by_urn and by_urn[urn].parent and by_urn[urn].parent != stack_urn:
            urn = by_urn[urn].parent
        return urn

    groups: dict[str, Counter[str]] = {}
    for resource in plan.resources:
        if resource.type == "pulumi:pulumi:Stack":
            continue
        group = top_level(resource.urn)
        if resource.urn != group:
            groups.setdefault(group, Counter())[resource.type] += 1
        else:
            groups.setdefault(group, Counter())
    counted = len(plan.resources) - (1 if stack_urn else 0)
    lines = [f"{plan.project}/{plan.stack}: {counted} resources, {len(plan.outputs)} outputs"]
    for group_urn in sorted(groups, key=lambda urn: (by_urn[urn].type, by_urn[urn].name)):
        head = by_urn[group_urn]
        lines.append(f"  {head.type}  {head.name}")
        for type_token, count in sorted(groups[group_urn].items()):
            lines.append(f"      {count:4d}  {type_token}")
    return "\n".join(lines) + "\n"
