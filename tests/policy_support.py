"""Helpers of the policy tests: copies of recorded resources under their own URNs, and one pack run
(over the Analyzer protocol, through `websys policy --plan`, in this process) for many cases at once.

Resource rules judge each resource alone, so cases that are copies of a resource with distinct URNs
can share a run; each case is then judged by the violations reported for its own URN.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.planning import websys_in_process

PlanDoc = dict[str, Any]
Resource = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """A change to one resource copy, and the rule that must report it (None: nothing may)."""

    id: str
    mutate: Callable[[Resource], None]
    rule: str | None


def find(plan: PlanDoc, suffix: str) -> Resource:
    return next(r for r in plan["resources"] if r["urn"].endswith("::" + suffix))


def copy_as(resource: Resource, name: str) -> Resource:
    """The resource under a new name: its URN ends with NAME, everything else is the same."""
    twin = copy.deepcopy(resource)
    twin["urn"] = twin["urn"].rsplit("::", 1)[0] + "::" + name
    twin["name"] = name
    return twin


def run_policy(
    plan: PlanDoc, tmp_path: Path, config: dict[str, Any] | None, *args: str, stack: str = "production"
) -> tuple[int, list[dict[str, str]]]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    extra: list[str] = []
    if config is not None:
        config_path = tmp_path / "pack-config.json"
        config_path.write_text(json.dumps(config))
        extra = ["--policy-config", str(config_path)]
    result = websys_in_process("policy", "--plan", str(path), "--stack", stack, "--json", *extra, *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)["violations"]


def by_urn(violations: list[dict[str, str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for v in violations:
        found[v["urn"]].add(v["policy"])
    return found


def judge(
    cases: list[Case], reported: dict[str, set[str]], urn_of: Callable[[Case], str]
) -> tuple[int, int, list[str]]:
    """(caught, tried, what went wrong) for cases that must be reported; a case with rule None must not be."""
    caught, misses = 0, []
    for case in cases:
        rules = reported.get(urn_of(case), set())
        if case.rule is None:
            if rules:
                misses.append(f"{case.id}: accepted input reported by {sorted(rules)}")
            else:
                caught += 1
        elif case.rule in rules:
            caught += 1
        else:
            misses.append(f"{case.id}: expected {case.rule}, reported {sorted(rules)}")
    return caught, len(cases), misses
