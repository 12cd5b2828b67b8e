"""3. Deploy critical path: the longest dependency chain in each stack's plan JSON.

With parallel steps, `pulumi up` is bounded by the longest chain of resources that must wait for one
another. A resource waits for its `dependencies` (explicit depends_on and the resources whose outputs
its inputs use) and for its provider. It does NOT wait for its parent: a component registers at once
and the engine does not hold a child back until the parent completes, so `parent` edges are left out
and component resources (no engine step of their own) count for nothing on a chain.

A dependency carries data when one of the dependency's identifying values (its name, bucket, id, ARN,
image id: the plan's own mock outputs, recomputed from its inputs) appears in the dependent's inputs.
Secrets are redacted in the plan, so a dependency on a password or key counts as used whenever the
dependent has a secret input. A container waiting for another container without using it is start
order (deliberate: created once the dependency is healthy), and so is a network waiting for another
network (deliberate: a network without a fixed subnet is created after the data network, so that
Docker's next free /16 never holds the data network's subnet: components/network.py); any other
dependency without a data flow is reported as not needed. Edges already implied by another
dependency are listed as redundant (harmless: they add no wait).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pulumi.runtime.mocks import MockResourceArgs

from bench.common import WEBSYS, Result, run_timed
from websys.plan.mocks import WebsysMocks

NAME = "critical-path"
TARGET = 6
STACKS = ("development", "staging", "production")
CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
START_ORDER = (CONTAINER, NETWORK)  # a resource of these types waiting for one of its own type
SECRET_TYPES = ("random:index/randomPassword", "random:index/randomString", "tls:index/privateKey", "aws:iam/accessKey")


def is_component(resource: dict[str, Any]) -> bool:
    kind = str(resource["type"])
    return kind.startswith("websys:") or kind == "pulumi:pulumi:Stack"


def waits_for(resource: dict[str, Any], known: set[str]) -> list[str]:
    edges = [d for d in resource["dependencies"] if d in known]
    if resource.get("provider") in known:
        edges.append(resource["provider"])
    return sorted(set(edges))


def longest_chain(resources: list[dict[str, Any]]) -> list[str]:
    by_urn = {r["urn"]: r for r in resources}
    known = set(by_urn)

    @cache
    def chain(urn: str) -> tuple[str, ...]:
        resource = by_urn[urn]
        before = max((chain(d) for d in waits_for(resource, known)), key=weight, default=())
        return (*before, urn)

    def weight(path: tuple[str, ...]) -> int:
        return sum(0 if is_component(by_urn[u]) else 1 for u in path)

    best = max((chain(urn) for urn in by_urn), key=weight, default=())
    return [u for u in best if not is_component(by_urn[u])]


def identifiers(resource: dict[str, Any]) -> set[str]:
    """The values a dependent would carry if it used this resource: name-like inputs, id and outputs."""
    inputs = resource["inputs"]
    found = {str(inputs[k]) for k in ("name", "bucket", "keyId", "user") if isinstance(inputs.get(k), str)}
    args = MockResourceArgs(resource["type"], resource["name"], dict(inputs), custom=True)
    resource_id, outputs = WebsysMocks().new_resource(args)
    found.add(str(resource_id))
    found.update(str(v) for k, v in outputs.items() if k not in inputs and isinstance(v, str))
    return {value for value in found if len(value) >= 3}


def unneeded(
    resources: list[dict[str, Any]],
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """(not needed, start order only, redundant) dependency edges between non-component resources."""
    by_urn = {r["urn"]: r for r in resources}
    unused: list[dict[str, str]] = []
    ordering: list[dict[str, str]] = []
    redundant: list[dict[str, str]] = []

    @cache
    def ancestors(urn: str) -> frozenset[str]:
        direct = [d for d in by_urn[urn]["dependencies"] if d in by_urn]
        return frozenset(direct).union(*(ancestors(d) for d in direct))

    for resource in resources:
        if is_component(resource):
            continue
        text = json.dumps(resource["inputs"], ensure_ascii=False)
        deps = [d for d in resource["dependencies"] if d in by_urn and not is_component(by_urn[d])]
        for dep in deps:
            other = by_urn[dep]
            edge = {"resource": resource["name"], "depends_on": other["name"], "type": other["type"]}
            if any(ancestors(o) and dep in ancestors(o) for o in deps if o != dep):
                redundant.append(edge)
            secret = other["type"].startswith(SECRET_TYPES) and "[secret]" in text
            if secret or any(value in text for value in identifiers(other)):
                continue
            if resource["type"] == other["type"] and resource["type"] in START_ORDER:
                ordering.append(edge)
            else:
                unused.append(edge)
    return unused, ordering, redundant


def analyse(stack: str) -> dict[str, Any]:
    plan = json.loads(run_timed([WEBSYS, "plan", stack, "--json"]).stdout)
    resources = plan["resources"]
    by_urn = {r["urn"]: r for r in resources}
    chain = longest_chain(resources)
    unused, ordering, redundant = unneeded(resources)
    return {
        "resources": sum(1 for r in resources if not is_component(r)),
        "components": sum(1 for r in resources if is_component(r)),
        "levels": len(chain),
        "chain": [f"{by_urn[u]['name']} ({by_urn[u]['type']})" for u in chain],
        "not_needed": unused,
        "start_order_only": ordering,
        "redundant": redundant,
    }


def run(stacks: tuple[str, ...] = STACKS) -> Result:
    per_stack = {stack: analyse(stack) for stack in stacks}
    focus = "production" if "production" in per_stack else stacks[-1]
    levels = per_stack[focus]["levels"]
    unused = per_stack[focus]["not_needed"]
    return Result(
        name=NAME,
        title="Deploy critical path",
        measure=f"levels on the longest dependency chain ({focus})",
        value=float(levels),
        target=f"<= {TARGET} levels",
        met=levels <= TARGET,
        summary=(
            "; ".join(f"{s}: {d['levels']} levels / {d['resources']} res" for s, d in per_stack.items())
            + f"; {focus}: {len(unused)} dependencies not needed"
            + "".join(f", e.g. {e['resource']} -> {e['depends_on']}" for e in unused[:1])
        ),
        details={"edges": "dependencies + provider; parent edges excluded", "stacks": per_stack},
    )
