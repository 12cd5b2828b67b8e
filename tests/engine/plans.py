"""Recorded plans with their secret values, for creating their resources on a real engine.

`websys plan --json` redacts every secret; a test that creates the containers needs the values
(the passwords a database is initialised with must be the ones its clients get). The same recorder
runs the program; its requests are read as sent, and matched to the redacted plan's resources.
The values stay in memory: nothing here prints or writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.mocks import MockResourceArgs
from pulumi.runtime.rpc import _special_output_value_sig, _special_resource_sig, _special_secret_sig, _special_sig_key

from tests import planning
from websys.plan import Plan, PlannedResource, record_plan
from websys.plan.mocks import WebsysMocks
from websys.plan.recorder import RecordingMonitor, secret_leaves
from websys.stackfile import StackConfig


def reveal(value: Any) -> Any:  # noqa: PLR0911 one return per kind of value
    """A request's property value as plain data, secret values included."""
    if isinstance(value, dict):
        signature = value.get(_special_sig_key)
        if signature == _special_secret_sig:
            return reveal(value.get("value"))
        if signature == _special_output_value_sig:
            return reveal(value.get("value"))
        if signature == _special_resource_sig:
            return value.get("urn", "")
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


RANDOM_ID = "random:index/randomId:RandomId"


class EngineMocks(WebsysMocks):
    """The program's mocks, except that a `random.RandomId` takes a new value whenever its keepers
    change, as under the engine: `keepers` is replace-on-change in the random provider that
    pulumi-random bridges (hashicorp/terraform-provider-random `internal/provider/resource_id.go`:
    a plan modifier that requires replacement when keepers change, and its docs: "when changed,
    will trigger recreation"), and the replacement draws anew. So a
    rotated Swarm secret gets a new versioned name here, as it does on a real `pulumi up`.

    The value is derived from the keepers, which a published plan must never do (they may hold a
    secret's digest: websys/plan/mocks.py). These plans stay in the engine tests' memory.
    """

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == RANDOM_ID:
            size = int(args.inputs.get("byteLength", 8))
            seed = json.dumps([args.name, args.inputs.get("keepers")], sort_keys=True, default=str)
            outputs["hex"] = hashlib.sha256(seed.encode()).digest()[:size].hex()
        return resource_id, outputs


@dataclass(frozen=True)
class EnginePlan:
    plan: Plan
    inputs: dict[str, dict[str, Any]]  # by URN: the inputs as sent, secrets revealed

    def resource(self, name: str, type_: str) -> PlannedResource:
        matches = [r for r in self.plan.of_type(type_) if r.name == name]
        assert len(matches) == 1, f"{len(matches)} {type_} named {name!r}"
        return matches[0]


def stack_config(stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = ()) -> StackConfig:
    """The tests' own stack file (tests/stacks) with the values a test depends on set explicitly."""
    return planning.stack_config(stack, sets, secrets)


def engine_plan(stack: str, config: StackConfig) -> EnginePlan:
    monitor = RecordingMonitor(secret_leaves(config))
    monitor.mocks = EngineMocks()
    plan = record_plan(stack, config, monitor=monitor)
    by_key = {(r.type, r.name, r.parent): r.urn for r in plan.resources}
    inputs: dict[str, dict[str, Any]] = {}
    for request in monitor.requests:
        urn = by_key[(request.type, request.name, request.parent)]
        inputs[urn] = reveal(json_format.MessageToDict(request.object)) if request.HasField("object") else {}
    return EnginePlan(plan=plan, inputs=inputs)
