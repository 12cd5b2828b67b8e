"""Runs the policy pack on a recorded plan the way the Pulumi engine does, over the Analyzer protocol.

The pack is started as the engine starts it (`python -u -m pulumi.policy ENGINE PACK_DIR`; it prints
the port it serves on), configured with the stack's pack config, and fed every resource with its
options (Analyze) and then the whole stack with parents and dependencies (AnalyzeStack).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
    "remediate": analyzer_pb2.REMEDIATE,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
SEVERITY_NAMES = {0: "", 1: "low", 2: "medium", 3: "high", 4: "critical"}
START_TIMEOUT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 60.0
# What the pack reads of a plan (policy/websys_policies/wellformed.py reports what it replaced):
# protobuf refuses messages nested deeper than 100 levels, and gRPC ones larger than 4 MiB.
MAX_DEPTH = 20
MAX_STRING = 512 * 1024
MAX_ITEMS = 10_000
PLAN_STRING_BUDGET = 3 * 1024 * 1024
MARKER = "[websys-policy: "


class PolicyRunError(Exception):
    """The pack could not be started or answered badly; one line."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "severity": self.severity,
            "urn": self.urn,
            "message": self.message,
        }


def read_pack_config(path: Path) -> dict[str, Any]:
    """A `--policy-pack-config` file: {"all": LEVEL | {...}, "<policy>": LEVEL | {"enforcementLevel": ..., ...}}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PolicyRunError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise PolicyRunError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(document, dict):
        raise PolicyRunError(f"{path}: must be an object of policy names to settings")
    return document


def _policy_config(config: dict[str, Any], names: list[str], source: str) -> dict[str, analyzer_pb2.PolicyConfig]:
    """Expand "all" and per-policy entries into one PolicyConfig per policy, as the CLI does."""

    def split(key: str, entry: Any) -> tuple[str | None, dict[str, Any]]:
        if isinstance(entry, str):
            return entry, {}
        if isinstance(entry, dict):
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            return entry.get("enforcementLevel"), properties
        raise PolicyRunError(f"{source}: {key}: expected an enforcement level or an object")

    unknown = sorted(set(config) - {"all", *names})
    if unknown:
        raise PolicyRunError(f"{source}: {unknown[0]}: no policy of that name in the pack")
    default_level, _ = split("all", config.get("all", {}))
    result = {}
    for name in names:
        level, properties = split(name, config.get(name, {}))
        chosen = level or default_level
        if chosen is not None and chosen not in LEVELS:
            raise PolicyRunError(f"{source}: {name}: unknown enforcement level {chosen!r}")
        policy_config = analyzer_pb2.PolicyConfig(properties=_struct(properties))
        if chosen is not None:
            policy_config.enforcementLevel = LEVELS[chosen]
        result[name] = policy_config
    return result


class _Bounded:
    """Replaces what the pack cannot be sent (too deep, too large, not JSON) with a marker it reports."""

    def __init__(self) -> None:
        self.budget = PLAN_STRING_BUDGET

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return f"{MARKER}nested deeper than {MAX_DEPTH} levels]"
        if isinstance(value, dict):
            items = list(value.items())
            bounded = {str(k): self(v, depth + 1) for k, v in items[:MAX_ITEMS]}
            if len(items) > MAX_ITEMS:
                bounded["[more]"] = f"{MARKER}{len(items)} keys, more than {MAX_ITEMS}]"
            return bounded
        if isinstance(value, list):
            bounded_list = [self(v, depth + 1) for v in value[:MAX_ITEMS]]
            if len(value) > MAX_ITEMS:
                bounded_list.append(f"{MARKER}{len(value)} items, more than {MAX_ITEMS}]")
            return bounded_list
        if isinstance(value, str):
            if len(value) > MAX_STRING or (len(value) > 1024 and len(value) > self.budget):
                return f"{MARKER}a value of {len(value)} characters, more than the pack reads]"
            self.budget -= len(value)
            return value
        # What json.loads gives besides: None, booleans and numbers (protobuf's Struct has no other values).
        return value


def _checked_resources(plan: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The plan's resources, each with the keys the protocol needs; one line naming the key otherwise."""
    resources = []
    for index, resource in enumerate(plan.get("resources") or []):
        where = f"{source}: resources[{index}]"
        if not isinstance(resource, dict):
            raise PolicyRunError(f"{where}: not an object")
        for key in ("urn", "type"):
            if not isinstance(resource.get(key), str) or not resource[key]:
                raise PolicyRunError(f"{where}.{key}: missing or not a string")
        for key, kind in (("inputs", dict), ("options", dict), ("dependencies", list)):
            if key in resource and not isinstance(resource[key], kind):
                raise PolicyRunError(f"{where}.{key}: not {'an object' if kind is dict else 'a list'}")
        if resource["type"] != "pulumi:pulumi:Stack":
            resources.append(resource)
    return resources


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _options(resource: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.get("options", {})
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=options.get("protect") is True,
        ignoreChanges=_strings(options.get("ignoreChanges")),
        deleteBeforeReplace=options.get("deleteBeforeReplace") is True,
        deleteBeforeReplaceDefined=options.get("deleteBeforeReplaceDefined", options.get("deleteBeforeReplace"))
        is True,
        additionalSecretOutputs=_strings(options.get("additionalSecretOutputs")),
        parent=str(resource.get("parent") or ""),
    )


def _provider(
    resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(str(resource.get("provider") or ""))
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"],
        properties=_struct(provider.get("inputs", {})),
        urn=provider["urn"],
        name=_name(provider),
    )


def _name(resource: dict[str, Any]) -> str:
    """The resource's name; a URN ends with it (urn:pulumi:STACK::PROJECT::TYPE::NAME)."""
    name = resource.get("name")
    return name if isinstance(name, str) and name else str(resource["urn"]).rsplit("::", 1)[-1]


def _start_pack(pack_dir: Path, project: str, stack: str) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}
    # The engine address is only used for logging, which the pack does not do here.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(pack_dir)],
        cwd=pack_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=START_TIMEOUT_SECONDS)
    selector.close()
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.isdigit():
        _stop(process)
        stderr = process.stderr.read().decode(errors="replace").strip().splitlines() if process.stderr else []
        reason = stderr[-1] if stderr else f"no port printed within {START_TIMEOUT_SECONDS:.0f}s"
        raise PolicyRunError(f"{pack_dir}: the policy pack did not start: {reason}")
    return process, int(line)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def run_pack(
    plan: dict[str, Any],
    pack_dir: Path,
    pack_config: dict[str, Any],
    config_source: str,
    stack: str,
    plan_source: str = "plan",
) -> list[Violation]:
    """Every violation the pack reports for `plan` checked as `stack`, in the order Analyze then
    AnalyzeStack found them.

    `stack` is the stack the user named: the engine passes it to the pack (PULUMI_STACK, and
    ConfigureStack), and it chose `pack_config`. The plan's own `stack` field is not read: the plan
    is the change under review, and a change must not choose how strictly it is checked.
    """
    bounded = _Bounded()
    resources = [{**r, "inputs": bounded(r.get("inputs", {}))} for r in _checked_resources(plan, plan_source)]
    by_urn = {r["urn"]: r for r in resources}
    project = str(plan.get("project") or "websys")
    process, port = _start_pack(pack_dir, project, stack)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_SECONDS)
        names = [policy.name for policy in info.policies]
        stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project=project, dry_run=True),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        stub.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=_policy_config(pack_config, names, config_source)),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        # (diagnostic, URN of the analyzed resource): the engine attributes a resource rule's finding to it.
        diagnostics: list[tuple[Any, str]] = []
        for resource in resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource["type"],
                properties=_struct(resource.get("inputs", {})),
                urn=resource["urn"],
                name=_name(resource),
                options=_options(resource),
                provider=_provider(resource, by_urn),
            )
            found = stub.Analyze(request, timeout=CALL_TIMEOUT_SECONDS).diagnostics
            diagnostics.extend((d, resource["urn"]) for d in found)
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r["type"],
                    properties=_struct(r.get("inputs", {})),
                    urn=r["urn"],
                    name=_name(r),
                    options=_options(r),
                    provider=_provider(r, by_urn),
                    parent=str(r.get("parent") or ""),
                    dependencies=_strings(r.get("dependencies")),
                )
                for r in resources
            ]
        )
        found = stub.AnalyzeStack(stack_request, timeout=CALL_TIMEOUT_SECONDS).diagnostics
        diagnostics.extend((d, "") for d in found)
    except grpc.RpcError as error:
        raise PolicyRunError(f"{pack_dir}: the policy pack failed: {error.details()}") from None
    finally:
        channel.close()
        _stop(process)
    return [
        Violation(
            policy=d.policyName,
            level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            severity=SEVERITY_NAMES.get(d.severity, ""),
            urn=d.urn or resource_urn,
            # The SDK prefixes the policy's description; the line after it is the finding.
            message=d.message.split("\n", 1)[-1],
        )
        for d, resource_urn in diagnostics
    ]
